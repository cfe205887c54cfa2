import ArcaCore
import FoundationEssentials
import Synchronization

/// The outstanding nonces of a SQLite keeper, in memory.
///
/// One keeper process owns a SQLite file, so its nonces need not be shared and need not survive
/// it: a restart (or a crash) forgets every outstanding nonce, and a forgotten nonce can only be
/// refused (`nonce-unknown`), never redeemed twice. That is the replay guarantee the database
/// gave — with `synchronous=NORMAL` the keeper already discarded every stored nonce at start —
/// without two of the three write transactions per attestation. PostgreSQL replicas share their
/// nonces through the database instead (`PostgresStore`).
final class MemoryNonceSet: Sendable {
    /// Outstanding nonces at most: bounds memory (~250 bytes each) when clients ask for nonces and
    /// never redeem them. The per-client rate limit keeps honest loads far below it.
    static let defaultCapacity = 1 << 20

    let capacity: Int
    private let nonces = Mutex<[String: NonceRecord]>([:])

    init(capacity: Int = MemoryNonceSet.defaultCapacity) {
        self.capacity = capacity
    }

    /// Stores a new nonce; refuses a duplicate value and a full set.
    func insert(_ record: NonceRecord) throws {
        try nonces.withLock { nonces in
            guard nonces.count < capacity else {
                throw ArcaError(.limitExceeded, "\(nonces.count) nonces are outstanding, the limit is \(capacity); retry after they expire")
            }
            guard nonces[record.nonce] == nil else {
                throw ArcaError(.alreadyExists, "nonce exists already")
            }
            nonces[record.nonce] = record
        }
    }

    /// Removes and returns the nonce: the first caller gets it, every later one nil.
    func redeem(_ nonce: String) -> NonceRecord? {
        nonces.withLock { $0.removeValue(forKey: nonce) }
    }

    func purge(expiredBefore date: Date) {
        nonces.withLock { nonces in nonces = nonces.filter { $0.value.expiresAt >= date } }
    }

    func removeAll(session: String) {
        nonces.withLock { nonces in nonces = nonces.filter { $0.value.session != session } }
    }

    func removeAll() {
        nonces.withLock { $0.removeAll() }
    }

    var count: Int { nonces.withLock { $0.count } }
}
