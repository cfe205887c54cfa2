import ArcaSession
import Synchronization

/// Decoded sessions by name, each with the sealed bytes it came from. Every nonce and release
/// reads the session row anyway (another replica may have changed it); what this saves is
/// opening (AES-GCM) and decoding (JSON) the same sealed document again. An entry is used only
/// when the stored sealed bytes are identical: every seal draws a fresh AES-GCM nonce, so any
/// update, or a delete and re-create with the same document, misses. Bounded: when full, it is
/// emptied (sessions are few; the bound only stops a flood of names from growing it).
final class SessionCache: Sendable {
    private struct Entry {
        var sealed: [UInt8]
        var session: Session
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let capacity: Int

    init(capacity: Int = 1024) {
        self.capacity = capacity
    }

    /// The session decoded from `sealed` for `name`, decoding (with `open`) only on a miss.
    func session(name: String, sealed: [UInt8], open: () throws -> Session) rethrows -> Session {
        if let hit = entries.withLock({ table in table[name].flatMap { $0.sealed == sealed ? $0.session : nil } }) {
            return hit
        }
        let session = try open()
        entries.withLock { table in
            if table.count >= capacity && table[name] == nil { table.removeAll() }
            table[name] = Entry(sealed: sealed, session: session)
        }
        return session
    }

    /// Forgets `name` (after a delete; an update is caught by the sealed bytes anyway).
    func remove(_ name: String) {
        _ = entries.withLock { $0.removeValue(forKey: name) }
    }
}
