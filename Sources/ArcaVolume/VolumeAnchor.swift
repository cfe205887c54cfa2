import ArcaCore
import ArcaCrypto
import Crypto
import FoundationEssentials
import Synchronization

/// A (version, root hash) pair: one state of a volume.
public struct AnchorPoint: Sendable, Hashable, CustomStringConvertible {
    public var version: UInt64
    public var root: Hash256
    public init(version: UInt64, root: Hash256) {
        self.version = version
        self.root = root
    }
    public var description: String { "version \(version) (root \(root.hex.prefix(16))…)" }
}

/// What an anchor holds: the last committed state and, when a commit is under way, its intent.
public struct VolumeAnchorState: Sendable, Hashable {
    public var committed: AnchorPoint?
    public var intent: AnchorPoint?
    public init(committed: AnchorPoint?, intent: AnchorPoint?) {
        self.committed = committed
        self.intent = intent
    }
}

/// Rollback protection: a store outside the host's reach (the keeper) that remembers the newest
/// state of a volume. The volume records an intent for version v+1 before making it visible and
/// commits it afterwards; at start, the committed version or the intended one is accepted and
/// anything else refused. Calls are synchronous (the FUSE server calls them on its threads).
///
/// Rules every conformance keeps (the keeper's anchor API follows them: version 0 with no root
/// is "nothing committed", `intent` is its compare-and-swap on `expectedVersion = v`):
/// - `intent(p)` is accepted only for `p.version == committed.version + 1` (1 when nothing is
///   committed) and may be repeated with another root (a retried commit);
/// - `commit(p)` is accepted only for the current intent, and clears it;
/// - `lease()` takes or renews the single-writer lease (a conformance that expires leases renews
///   them itself while held); a new holder may void a pending intent, which is safe: the volume
///   then starts at the committed version. `releaseLease()` gives it up.
/// A refusal throws.
public protocol VolumeAnchor: AnyObject, Sendable {
    func read() throws -> VolumeAnchorState
    func intent(_ next: AnchorPoint) throws
    func commit(_ point: AnchorPoint) throws
    func lease() throws
    func releaseLease() throws
}

extension VolumeAnchor {
    /// No lease beyond the host directory's `flock` (a local anchor).
    public func lease() throws {}
    public func releaseLease() throws {}
}

/// A `VolumeAnchor` kept in a local file (tests, benchmarks, and single-host setups that trust a
/// path the volume's host directory does not contain); 0600.
///
/// The file is two fixed-size slots, `u64 sequence ‖ state ‖ SHA-256(sequence ‖ state)`; a change
/// writes the slot the older state occupies and fdatasyncs it: one flush per change instead of a
/// temporary file, its fsync, a rename and a directory fsync. A write torn by a crash fails its
/// checksum and the other slot — the state before that change, which never returned — is read.
/// A file of any other size, or with no valid slot, is refused.
public final class FileVolumeAnchor: VolumeAnchor {
    public let path: String
    private let lock = Mutex(())
    static let stateSize = 2 * (1 + 8 + 32)
    static let slotSize = 8 + stateSize + 32

    public init(path: String) { self.path = path }

    public func read() throws -> VolumeAnchorState {
        try lock.withLock { _ in try load().state }
    }

    public func intent(_ next: AnchorPoint) throws {
        try lock.withLock { _ in
            var (state, sequence) = try load()
            let committed = state.committed?.version ?? 0
            guard next.version == committed + 1 else {
                throw ArcaError(.rollback, "anchor refuses an intent for version \(next.version): committed is \(committed)")
            }
            state.intent = next
            try store(state, sequence: sequence + 1)
        }
    }

    public func commit(_ point: AnchorPoint) throws {
        try lock.withLock { _ in
            var (state, sequence) = try load()
            guard state.intent == point else {
                throw ArcaError(.rollback, "anchor refuses to commit \(point): it is not the recorded intent")
            }
            state.committed = point
            state.intent = nil
            try store(state, sequence: sequence + 1)
        }
    }

    /// The newest valid slot's state and sequence (sequence 0: no file yet).
    private func load() throws -> (state: VolumeAnchorState, sequence: UInt64) {
        guard FileSystem.exists(path) else { return (VolumeAnchorState(committed: nil, intent: nil), 0) }
        let bytes = try FileSystem.readFile(path, limit: 4096)
        guard bytes.count == 2 * Self.slotSize else {
            throw ArcaError(.invalidFormat, "volume anchor \(path) is \(bytes.count) bytes, not \(2 * Self.slotSize)")
        }
        var best: (state: VolumeAnchorState, sequence: UInt64)?
        for slot in 0..<2 {
            let record = Array(bytes[slot * Self.slotSize..<(slot + 1) * Self.slotSize])
            let body = Array(record[..<(8 + Self.stateSize)])
            guard Array(SHA256.hash(data: body)) == Array(record[(8 + Self.stateSize)...]) else { continue }
            var r = ByteReader(body, what: "volume anchor \(path)")
            let sequence = try r.u64()
            func point() throws -> AnchorPoint? {
                let present = try r.u8()
                let version = try r.u64()
                let root = try r.fixed(32)
                guard present == 1 else { return nil }
                return AnchorPoint(version: version, root: Hash256(root)!)
            }
            let state = VolumeAnchorState(committed: try point(), intent: try point())
            if sequence > (best?.sequence ?? 0) { best = (state, sequence) }
        }
        guard let best else { throw ArcaError(.invalidFormat, "volume anchor \(path) holds no valid slot") }
        return best
    }

    private func store(_ state: VolumeAnchorState, sequence: UInt64) throws {
        var w = ByteWriter()
        w.u64(sequence)
        for point in [state.committed, state.intent] {
            w.u8(point == nil ? 0 : 1)
            w.u64(point?.version ?? 0)
            w.fixed(point?.root.bytes ?? [UInt8](repeating: 0, count: 32))
        }
        let record = w.bytes + Array(SHA256.hash(data: w.bytes))
        if sequence == 1 {
            // The first state: the whole file, durably created, in slot 1 (the next change
            // writes slot 0, so this one stays readable should that write tear).
            try HostDirectory.writeDurably([UInt8](repeating: 0, count: Self.slotSize) + record, path: path)
            return
        }
        try HostDirectory.writeSlot(record, at: Int(sequence % 2) * Self.slotSize, path: path)
    }
}
