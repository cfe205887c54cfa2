import ArcaCore
import ArcaKeeperAPI
import FoundationEssentials
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// The embedded store: one SQLite file (WAL) in the data directory, through GRDB.
/// GRDB serialises writes, so every compare-and-swap runs in one immediate transaction.
/// Nonces live in memory (`MemoryNonceSet`): one keeper process owns the file, and a nonce dies
/// with the process that issued it.
public final class SQLiteStore: KeeperStore {
    private let pool: DatabasePool
    private let nonces = MemoryNonceSet()
    /// Current sessions by name. Only this process writes sessions to the file (`ServeLock` keeps
    /// a second `keeper serve` away; the offline commands write platforms only), and every write
    /// here invalidates its name, so a hit is the committed row.
    private let sessions = RowCache<StoredSession>()
    /// Registered `sim` platforms by ID. Rows are never deleted and a re-add changes only the
    /// label, so a row once read stays right; unknown IDs always reach the database, which is how
    /// `arca keeper platform add` (another process) takes effect while the keeper runs.
    private let platforms = RowCache<PlatformRecord>()
    /// Audit lines are group-committed: one transaction for the releases that end together.
    private let audit: AuditBatcher

    /// Opens (creating) the database at `path`; the file is 0600 (it holds owners and the audit log).
    public init(path: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(10)
        // WAL with synchronous=NORMAL (GRDB's choice for WAL; set here so it is ours): a commit is
        // in the WAL before the call returns, so a killed keeper loses nothing, but it is fsynced
        // only at checkpoints, so a power loss or kernel crash can lose the last commits. Among
        // them can be a nonce's redemption: that is why the server discards every outstanding
        // nonce when it starts (`discardAllNonces`), so no nonce outlives a restart and none is
        // redeemed twice. docs/KEEPER.md ("Durability") has the whole argument.
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: config)
        } catch {
            throw ArcaError(.io, "cannot open the keeper database \(path)", cause: error)
        }
        self.pool = pool
        audit = AuditBatcher { events in
            do {
                try await pool.write { db in
                    let insert = try db.cachedStatement(sql: """
                        INSERT INTO audit (time, action, outcome, reason, session, client, detail) VALUES (?, ?, ?, ?, ?, ?, ?)
                        """)
                    for e in events {
                        try insert.execute(arguments: [e.time.timeIntervalSince1970, e.action, e.outcome, e.reason, e.session,
                                                        e.client, e.detail])
                    }
                }
            } catch {
                throw ArcaError(.io, "keeper database write failed", cause: error)
            }
        }
        for file in [path, path + "-wal", path + "-shm"] where FileSystem.exists(file) {
            _ = chmod(file, 0o600)
        }
    }

    public func migrate() async throws {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE sessions (
                    name TEXT PRIMARY KEY NOT NULL, owner TEXT NOT NULL, version TEXT NOT NULL, hash TEXT NOT NULL,
                    sealed BLOB NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL);
                CREATE INDEX sessions_owner ON sessions(owner);
                CREATE TABLE session_versions (
                    name TEXT NOT NULL, hash TEXT NOT NULL, version TEXT NOT NULL, sealed BLOB NOT NULL,
                    created_at REAL NOT NULL, PRIMARY KEY (name, hash));
                CREATE TABLE nonces (
                    nonce TEXT PRIMARY KEY NOT NULL, session TEXT NOT NULL, service TEXT NOT NULL, expires_at REAL NOT NULL);
                CREATE TABLE platforms (
                    id TEXT PRIMARY KEY NOT NULL, public_key BLOB NOT NULL, label TEXT NOT NULL, added_at REAL NOT NULL);
                CREATE TABLE anchors (
                    session TEXT NOT NULL, volume TEXT NOT NULL, version INTEGER NOT NULL, root_hash TEXT NOT NULL,
                    pending_version INTEGER, pending_root_hash TEXT, lease_holder TEXT, lease_expires_at REAL,
                    PRIMARY KEY (session, volume));
                CREATE TABLE audit (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, action TEXT NOT NULL, outcome TEXT NOT NULL,
                    reason TEXT NOT NULL, session TEXT NOT NULL, client TEXT NOT NULL, detail TEXT NOT NULL);
                CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
                CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
                """)
        }
        do {
            try migrator.migrate(pool)
        } catch {
            throw ArcaError(.io, "keeper database migration failed", cause: error)
        }
    }

    public func createSession(_ s: StoredSession) async throws {
        defer { sessions.invalidate(s.name) }
        let inserted = try await write { db -> Bool in
            let row = try Row.fetchOne(db, sql: """
                INSERT INTO sessions (name, owner, version, hash, sealed, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO NOTHING RETURNING name
                """, arguments: [s.name, s.owner, s.version, s.hash, Data(s.sealed), s.createdAt.timeIntervalSince1970,
                                 s.updatedAt.timeIntervalSince1970])
            guard row != nil else { return false }
            try Self.insertVersion(db, s)
            return true
        }
        guard inserted else { throw ArcaError(.alreadyExists, "session \(s.name) exists already") }
    }

    public func updateSession(_ s: StoredSession, predecessor: String) async throws -> Bool {
        defer { sessions.invalidate(s.name) }
        return try await write { db -> Bool in
            let row = try Row.fetchOne(db, sql: """
                UPDATE sessions SET version = ?, hash = ?, sealed = ?, updated_at = ?
                WHERE name = ? AND hash = ? RETURNING name
                """, arguments: [s.version, s.hash, Data(s.sealed), s.updatedAt.timeIntervalSince1970, s.name, predecessor])
            guard row != nil else { return false }
            try Self.insertVersion(db, s)
            return true
        }
    }

    private static func insertVersion(_ db: Database, _ s: StoredSession) throws {
        try db.execute(sql: """
            INSERT INTO session_versions (name, hash, version, sealed, created_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(name, hash) DO NOTHING
            """, arguments: [s.name, s.hash, s.version, Data(s.sealed), s.updatedAt.timeIntervalSince1970])
    }

    public func session(named name: String) async throws -> StoredSession? {
        try await read { db in try Self.fetchSession(db, named: name) }
    }

    public func sessions(ownedBy owner: String) async throws -> [StoredSession] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM sessions WHERE owner = ? ORDER BY name", arguments: [owner]).map(Self.session)
        }
    }

    public func deleteSession(named name: String) async throws -> Bool {
        nonces.removeAll(session: name)
        defer { sessions.invalidate(name) }
        return try await write { db -> Bool in
            let row = try Row.fetchOne(db, sql: "DELETE FROM sessions WHERE name = ? RETURNING name", arguments: [name])
            try db.execute(sql: "DELETE FROM session_versions WHERE name = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM nonces WHERE session = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM anchors WHERE session = ?", arguments: [name])
            return row != nil
        }
    }

    private static func session(_ row: Row) -> StoredSession {
        StoredSession(name: row["name"], owner: row["owner"], version: row["version"], hash: row["hash"],
                      sealed: Array(row["sealed"] as Data), createdAt: Date(timeIntervalSince1970: row["created_at"]),
                      updatedAt: Date(timeIntervalSince1970: row["updated_at"]))
    }

    public func insertNonce(_ n: NonceRecord) async throws {
        try nonces.insert(n)
    }

    public func redeemNonce(_ nonce: String) async throws -> NonceRecord? {
        nonces.redeem(nonce)
    }

    // The attestation path: nonces in memory; the session and the platform from the row caches,
    // read on the calling thread (`readNow`) when they miss. Statements are cached.

    public func insertNonce(_ n: NonceRecord, checkingSession check: @escaping @Sendable (StoredSession?) throws -> Void) async throws {
        let session = try cachedSession(n.session)
        try check(session)
        try nonces.insert(n)
    }

    public func redeemNonce(_ nonce: String, readingSession name: String, platform id: String?) async throws -> ReleaseRecords {
        // Redeemed first, and for good: a failed read below still burns the nonce.
        guard let record = nonces.redeem(nonce) else {
            return ReleaseRecords(nonce: nil, session: nil, platform: nil)
        }
        let platform = try id.flatMap { id in
            try platforms.value(id) {
                try readNow { db in
                    try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM platforms WHERE id = ?"), arguments: [id]).map(Self.platform)
                }
            }
        }
        return ReleaseRecords(nonce: record, session: try cachedSession(name), platform: platform)
    }

    private func cachedSession(_ name: String) throws -> StoredSession? {
        try sessions.value(name) { try readNow { db in try Self.fetchSession(db, named: name) } }
    }

    /// Reads on the calling thread, outside a transaction (each statement sees committed data;
    /// the attestation path reads single rows that need no common snapshot). A pool read hands the
    /// work to a reader's queue and back, two thread switches that cost more than the indexed
    /// lookup on a cached page; in WAL mode a reader never waits for the writer, so this blocks
    /// its thread for the lookup only.
    private func readNow<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.unsafeRead(body)
        } catch let error as ArcaError {
            throw error
        } catch {
            throw ArcaError(.io, "keeper database read failed", cause: error)
        }
    }

    private static func fetchSession(_ db: Database, named name: String) throws -> StoredSession? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM sessions WHERE name = ?"), arguments: [name]).map(Self.session)
    }

    /// Deletes every nonce: the outstanding ones in memory, and any a keeper before this version
    /// left in the `nonces` table (which now stays empty). `arca keeper serve` calls it at start,
    /// after migrating, so no nonce from before a restart is redeemable after it. An attestation in
    /// flight across the restart is refused (`nonce-unknown`); the next attempt gets a new nonce.
    public func discardAllNonces() async throws {
        nonces.removeAll()
        try await write { db in try db.execute(sql: "DELETE FROM nonces") }
    }

    public func purgeNonces(expiredBefore date: Date) async throws {
        nonces.purge(expiredBefore: date)
    }

    public func addPlatform(_ p: PlatformRecord) async throws {
        try await write { db in
            try db.execute(sql: """
                INSERT INTO platforms (id, public_key, label, added_at) VALUES (?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET label = excluded.label
                """, arguments: [p.id, Data(p.publicKeyDER), p.label, p.addedAt.timeIntervalSince1970])
        }
    }

    public func platform(id: String) async throws -> PlatformRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM platforms WHERE id = ?", arguments: [id]).map(Self.platform)
        }
    }

    public func platforms() async throws -> [PlatformRecord] {
        try await read { db in try Row.fetchAll(db, sql: "SELECT * FROM platforms ORDER BY id").map(Self.platform) }
    }

    private static func platform(_ row: Row) -> PlatformRecord {
        PlatformRecord(id: row["id"], publicKeyDER: Array(row["public_key"] as Data), label: row["label"],
                       addedAt: Date(timeIntervalSince1970: row["added_at"]))
    }

    public func anchor(session: String, volume: String) async throws -> AnchorState {
        try await read { db in try Self.readAnchor(db, session: session, volume: volume) }
    }

    public func updateAnchor(session: String, volume: String,
                             _ transform: @escaping @Sendable (AnchorState) throws -> AnchorState) async throws -> AnchorState {
        try await write { db in
            let next = try transform(try Self.readAnchor(db, session: session, volume: volume))
            try db.execute(sql: """
                INSERT INTO anchors (session, volume, version, root_hash, pending_version, pending_root_hash, lease_holder, lease_expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(session, volume) DO UPDATE SET version = excluded.version, root_hash = excluded.root_hash,
                  pending_version = excluded.pending_version, pending_root_hash = excluded.pending_root_hash,
                  lease_holder = excluded.lease_holder, lease_expires_at = excluded.lease_expires_at
                """, arguments: [session, volume, next.version, next.rootHash, next.pendingVersion, next.pendingRootHash,
                                 next.leaseHolder, next.leaseExpiresAt?.timeIntervalSince1970])
            return next
        }
    }

    private static func readAnchor(_ db: Database, session: String, volume: String) throws -> AnchorState {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM anchors WHERE session = ? AND volume = ?",
                                         arguments: [session, volume]) else {
            return AnchorState(version: 0, rootHash: "")
        }
        let expiry: Double? = row["lease_expires_at"]
        return AnchorState(version: row["version"], rootHash: row["root_hash"], pendingVersion: row["pending_version"],
                           pendingRootHash: row["pending_root_hash"], leaseHolder: row["lease_holder"],
                           leaseExpiresAt: expiry.map { Date(timeIntervalSince1970: $0) })
    }

    public func appendAudit(_ e: AuditEvent) async throws {
        try await audit.append(e)
    }

    public func auditEvents(limit: Int) async throws -> [AuditEvent] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM (SELECT * FROM audit ORDER BY id DESC LIMIT ?) ORDER BY id",
                             arguments: [limit]).map { row in
                AuditEvent(time: Date(timeIntervalSince1970: row["time"]), action: row["action"], outcome: row["outcome"],
                           reason: row["reason"], session: row["session"], client: row["client"], detail: row["detail"])
            }
        }
    }

    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.write(body)
        } catch let error as ArcaError {
            throw error
        } catch let denial as Denial {
            throw denial   // a check inside the transaction refused (the transaction rolled back)
        } catch {
            throw ArcaError(.io, "keeper database write failed", cause: error)
        }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.read(body)
        } catch {
            throw ArcaError(.io, "keeper database read failed", cause: error)
        }
    }
}
