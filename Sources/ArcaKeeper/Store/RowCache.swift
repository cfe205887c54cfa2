import Synchronization

/// The current rows of one table, by key, for a store whose process is the table's only writer
/// (`SQLiteStore` under `ServeLock`: sessions change only through its own writes).
///
/// A read that misses fills the cache only if no write touched the table since the read began
/// (a generation count), so a slow read of an old row never overwrites a newer one. Absent rows
/// are not cached: a lookup of an unknown key always reaches the database.
final class RowCache<Value: Sendable>: Sendable {
    private struct State {
        var rows: [String: Value] = [:]
        var generation: UInt64 = 0
    }

    /// Entries at most; past it the cache starts over (sessions are few, this only bounds memory).
    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    /// The cached row, or `load()`'s (cached when it found one and nothing was written meanwhile).
    func value(_ key: String, load: () throws -> Value?) rethrows -> Value? {
        let generation: UInt64 = state.withLock { state in state.generation }
        if let hit = state.withLock({ $0.rows[key] }) { return hit }
        let loaded = try load()
        if let loaded {
            state.withLock { state in
                guard state.generation == generation else { return }
                if state.rows.count >= capacity { state.rows.removeAll() }
                state.rows[key] = loaded
            }
        }
        return loaded
    }

    /// Forgets `key` after a write to its row (call it once the write has committed, and also
    /// when the write's outcome is unknown).
    func invalidate(_ key: String) {
        state.withLock { state in
            state.generation &+= 1
            state.rows.removeValue(forKey: key)
        }
    }
}
