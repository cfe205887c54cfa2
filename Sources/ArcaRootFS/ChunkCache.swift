import Synchronization

/// A small least-recently-used cache of chunks that were already verified or decrypted, so a
/// read that covers only part of a chunk (FUSE requests need not be chunk-aligned, and packed
/// encrypted files straddle blob chunks) does not pay for the same chunk twice in a row.
/// The kernel page cache holds everything long-term; this only bridges neighbouring requests.
final class ChunkCache: Sendable {
    enum Key: Hashable {
        /// Decrypted chunk `j` of stream `k` (shared by every encrypted file packed into it).
        case blob(stream: Int, chunk: UInt64)
        /// Verified chunk `i` of the authenticated file at node `n`.
        case file(node: Int, chunk: UInt64)
    }

    private struct Slot {
        var bytes: [UInt8]
        var lastUse: UInt64
    }

    private struct State {
        var slots: [Key: Slot] = [:]
        var clock: UInt64 = 0
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        self.capacity = capacity
    }

    func get(_ key: Key) -> [UInt8]? {
        state.withLock { state in
            state.clock += 1
            guard var slot = state.slots[key] else { return nil }
            slot.lastUse = state.clock
            state.slots[key] = slot
            return slot.bytes  // copy-on-write: the caller reads outside the lock
        }
    }

    /// Stores verified bytes; evicts the least recently used chunk when full.
    func put(_ key: Key, _ bytes: [UInt8]) {
        guard capacity > 0 else { return }
        state.withLock { state in
            state.clock += 1
            if state.slots[key] == nil, state.slots.count >= capacity,
               let oldest = state.slots.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
                state.slots[oldest] = nil
            }
            state.slots[key] = Slot(bytes: bytes, lastUse: state.clock)
        }
    }
}
