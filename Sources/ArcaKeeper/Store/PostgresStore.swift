import ArcaCore
import ArcaKeeperAPI
import FoundationEssentials
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle

/// The replicated store: PostgreSQL through postgres-nio's pooled client. Several keepers may
/// share one database; compare-and-swap is a conditional `UPDATE … RETURNING` (row-locked by
/// PostgreSQL) and anchors are read `FOR UPDATE` inside a transaction.
/// It is a `Service`: its connection pool runs while the service runs.
public final class PostgresStore: KeeperStore, Service {
    let client: PostgresClient
    private let logger: Logger
    /// The longest a single store operation may take (connection waits included).
    let operationTimeout: Duration
    /// Enforces `operationTimeout` (see `OperationWatchdog` for why not a timer per query).
    private let watchdog = OperationWatchdog()

    /// - Parameter url: `postgres://user[:password]@host[:port]/database` (no TLS: loopback or a private network).
    public init(url: String, logger: Logger, operationTimeout: Duration = .seconds(15)) throws {
        guard let parsed = URL(string: url), parsed.scheme == "postgres" || parsed.scheme == "postgresql",
              let host = parsed.host, let user = parsed.user, !parsed.path.isEmpty else {
            throw ArcaError(.invalidArgument, "database url must be postgres://user[:password]@host[:port]/database")
        }
        let database = String(parsed.path.dropFirst())
        let config = PostgresClient.Configuration(host: host, port: parsed.port ?? 5432, username: user,
                                                  password: parsed.password, database: database, tls: .disable)
        self.client = PostgresClient(configuration: config, backgroundLogger: logger)
        self.logger = logger
        self.operationTimeout = operationTimeout
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.watchdog.runSweeper() }
            await client.run()   // in this task, at once (callers start using the pool right away); ends at shutdown
            group.cancelAll()
        }
    }

    public func migrate() async throws {
        let statements: [PostgresQuery] = [
            "SELECT pg_advisory_xact_lock(7311)",
            """
            CREATE TABLE IF NOT EXISTS sessions (
                name TEXT PRIMARY KEY, owner TEXT NOT NULL, version TEXT NOT NULL, hash TEXT NOT NULL,
                sealed BYTEA NOT NULL, created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS sessions_owner ON sessions(owner)",
            """
            CREATE TABLE IF NOT EXISTS session_versions (
                name TEXT NOT NULL, hash TEXT NOT NULL, version TEXT NOT NULL, sealed BYTEA NOT NULL,
                created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (name, hash))
            """,
            """
            CREATE TABLE IF NOT EXISTS nonces (
                nonce TEXT PRIMARY KEY, session TEXT NOT NULL, service TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL)
            """,
            """
            CREATE TABLE IF NOT EXISTS platforms (
                id TEXT PRIMARY KEY, public_key BYTEA NOT NULL, label TEXT NOT NULL, added_at DOUBLE PRECISION NOT NULL)
            """,
            """
            CREATE TABLE IF NOT EXISTS anchors (
                session TEXT NOT NULL, volume TEXT NOT NULL, version BIGINT NOT NULL, root_hash TEXT NOT NULL,
                pending_version BIGINT, pending_root_hash TEXT, lease_holder TEXT, lease_expires_at DOUBLE PRECISION,
                PRIMARY KEY (session, volume))
            """,
            """
            CREATE TABLE IF NOT EXISTS audit (
                id BIGSERIAL PRIMARY KEY, time DOUBLE PRECISION NOT NULL, action TEXT NOT NULL, outcome TEXT NOT NULL,
                reason TEXT NOT NULL, session TEXT NOT NULL, client TEXT NOT NULL, detail TEXT NOT NULL)
            """,
            """
            CREATE OR REPLACE FUNCTION arca_audit_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'audit log is append-only'; END; $$ LANGUAGE plpgsql
            """,
            "DROP TRIGGER IF EXISTS audit_append_only ON audit",
            """
            CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit
            FOR EACH STATEMENT EXECUTE FUNCTION arca_audit_append_only()
            """,
        ]
        try await run("migration") { [self] in
            try await client.withTransaction(logger: logger) { connection in
                for statement in statements { try await connection.query(statement, logger: logger) }
            }
        }
    }

    public func createSession(_ s: StoredSession) async throws {
        let inserted = try await run("create session") { [self] in
            try await client.withTransaction(logger: logger) { c -> Bool in
                let rows = try await c.query("""
                    INSERT INTO sessions (name, owner, version, hash, sealed, created_at, updated_at)
                    VALUES (\(s.name), \(s.owner), \(s.version), \(s.hash), \(ByteBuffer(bytes: s.sealed)),
                            \(s.createdAt.timeIntervalSince1970), \(s.updatedAt.timeIntervalSince1970))
                    ON CONFLICT (name) DO NOTHING RETURNING name
                    """, logger: logger).collect()
                guard !rows.isEmpty else { return false }
                try await Self.insertVersion(c, s, logger: logger)
                return true
            }
        }
        guard inserted else { throw ArcaError(.alreadyExists, "session \(s.name) exists already") }
    }

    public func updateSession(_ s: StoredSession, predecessor: String) async throws -> Bool {
        try await run("update session") { [self] in
            try await client.withTransaction(logger: logger) { c -> Bool in
                let rows = try await c.query("""
                    UPDATE sessions SET version = \(s.version), hash = \(s.hash), sealed = \(ByteBuffer(bytes: s.sealed)),
                        updated_at = \(s.updatedAt.timeIntervalSince1970)
                    WHERE name = \(s.name) AND hash = \(predecessor) RETURNING name
                    """, logger: logger).collect()
                guard !rows.isEmpty else { return false }
                try await Self.insertVersion(c, s, logger: logger)
                return true
            }
        }
    }

    private static func insertVersion(_ c: PostgresConnection, _ s: StoredSession, logger: Logger) async throws {
        try await c.query("""
            INSERT INTO session_versions (name, hash, version, sealed, created_at)
            VALUES (\(s.name), \(s.hash), \(s.version), \(ByteBuffer(bytes: s.sealed)), \(s.updatedAt.timeIntervalSince1970))
            ON CONFLICT (name, hash) DO NOTHING
            """, logger: logger)
    }

    public func session(named name: String) async throws -> StoredSession? {
        // PostgreSQL text cannot hold NUL, so no stored name contains one.
        guard !name.utf8.contains(0) else { return nil }
        return try await sessions("SELECT name, owner, version, hash, sealed, created_at, updated_at FROM sessions WHERE name = \(name)").first
    }

    public func sessions(ownedBy owner: String) async throws -> [StoredSession] {
        try await sessions("""
            SELECT name, owner, version, hash, sealed, created_at, updated_at FROM sessions WHERE owner = \(owner) ORDER BY name
            """)
    }

    private func sessions(_ query: PostgresQuery) async throws -> [StoredSession] {
        try await run("read sessions") { [self] in
            try await client.query(query, logger: logger).collect().map { row in
                let (name, owner, version, hash, sealed, created, updated) =
                    try row.decode((String, String, String, String, ByteBuffer, Double, Double).self)
                return StoredSession(name: name, owner: owner, version: version, hash: hash, sealed: Array(sealed.readableBytesView),
                                     createdAt: Date(timeIntervalSince1970: created), updatedAt: Date(timeIntervalSince1970: updated))
            }
        }
    }

    public func deleteSession(named name: String) async throws -> Bool {
        try await run("delete session") { [self] in
            try await client.withTransaction(logger: logger) { c -> Bool in
                let rows = try await c.query("DELETE FROM sessions WHERE name = \(name) RETURNING name", logger: logger).collect()
                try await c.query("DELETE FROM session_versions WHERE name = \(name)", logger: logger)
                try await c.query("DELETE FROM nonces WHERE session = \(name)", logger: logger)
                try await c.query("DELETE FROM anchors WHERE session = \(name)", logger: logger)
                return !rows.isEmpty
            }
        }
    }

    public func insertNonce(_ n: NonceRecord) async throws {
        try await run("insert nonce") { [self] in
            try await client.query("""
                INSERT INTO nonces (nonce, session, service, expires_at)
                VALUES (\(n.nonce), \(n.session), \(n.service), \(n.expiresAt.timeIntervalSince1970))
                """, logger: logger)
        }
    }

    public func redeemNonce(_ nonce: String) async throws -> NonceRecord? {
        guard !nonce.utf8.contains(0) else { return nil }
        return try await run("redeem nonce") { [self] in
            try await client.query("DELETE FROM nonces WHERE nonce = \(nonce) RETURNING nonce, session, service, expires_at",
                                   logger: logger).collect().first.map { row in
                let (nonce, session, service, expires) = try row.decode((String, String, String, Double).self)
                return NonceRecord(nonce: nonce, session: session, service: service, expiresAt: Date(timeIntervalSince1970: expires))
            }
        }
    }

    public func purgeNonces(expiredBefore date: Date) async throws {
        try await run("purge nonces") { [self] in
            try await client.query("DELETE FROM nonces WHERE expires_at < \(date.timeIntervalSince1970)", logger: logger)
        }
    }

    public func addPlatform(_ p: PlatformRecord) async throws {
        try await run("add platform") { [self] in
            try await client.query("""
                INSERT INTO platforms (id, public_key, label, added_at)
                VALUES (\(p.id), \(ByteBuffer(bytes: p.publicKeyDER)), \(p.label), \(p.addedAt.timeIntervalSince1970))
                ON CONFLICT (id) DO UPDATE SET label = excluded.label
                """, logger: logger)
        }
    }

    public func platform(id: String) async throws -> PlatformRecord? {
        guard !id.utf8.contains(0) else { return nil }
        return try await platforms("SELECT id, public_key, label, added_at FROM platforms WHERE id = \(id)").first
    }

    public func platforms() async throws -> [PlatformRecord] {
        try await platforms("SELECT id, public_key, label, added_at FROM platforms ORDER BY id")
    }

    private func platforms(_ query: PostgresQuery) async throws -> [PlatformRecord] {
        try await run("read platforms") { [self] in
            try await client.query(query, logger: logger).collect().map { row in
                let (id, key, label, added) = try row.decode((String, ByteBuffer, String, Double).self)
                return PlatformRecord(id: id, publicKeyDER: Array(key.readableBytesView), label: label,
                                      addedAt: Date(timeIntervalSince1970: added))
            }
        }
    }

    public func anchor(session: String, volume: String) async throws -> AnchorState {
        try await run("read anchor") { [self] in
            try await client.withConnection { c in
                try await Self.readAnchor(c, session: session, volume: volume, lock: false, logger: logger)
            }
        }
    }

    public func updateAnchor(session: String, volume: String,
                             _ transform: @escaping @Sendable (AnchorState) throws -> AnchorState) async throws -> AnchorState {
        try await run("update anchor") { [self] in
            try await client.withTransaction(logger: logger) { c -> AnchorState in
                try await c.query("""
                    INSERT INTO anchors (session, volume, version, root_hash) VALUES (\(session), \(volume), 0, '')
                    ON CONFLICT (session, volume) DO NOTHING
                    """, logger: logger)
                let current = try await Self.readAnchor(c, session: session, volume: volume, lock: true, logger: logger)
                let next = try transform(current)
                try await c.query("""
                    UPDATE anchors SET version = \(next.version), root_hash = \(next.rootHash),
                        pending_version = \(next.pendingVersion), pending_root_hash = \(next.pendingRootHash),
                        lease_holder = \(next.leaseHolder), lease_expires_at = \(next.leaseExpiresAt?.timeIntervalSince1970)
                    WHERE session = \(session) AND volume = \(volume)
                    """, logger: logger)
                return next
            }
        }
    }

    private static func readAnchor(_ c: PostgresConnection, session: String, volume: String, lock: Bool,
                                   logger: Logger) async throws -> AnchorState {
        let suffix = lock ? " FOR UPDATE" : ""
        let rows = try await c.query("""
            SELECT version, root_hash, pending_version, pending_root_hash, lease_holder, lease_expires_at
            FROM anchors WHERE session = \(session) AND volume = \(volume)\(unescaped: suffix)
            """, logger: logger).collect()
        guard let row = rows.first else { return AnchorState(version: 0, rootHash: "") }
        let (version, root, pendingVersion, pendingRoot, holder, expiry) =
            try row.decode((Int64, String, Int64?, String?, String?, Double?).self)
        return AnchorState(version: version, rootHash: root, pendingVersion: pendingVersion, pendingRootHash: pendingRoot,
                           leaseHolder: holder, leaseExpiresAt: expiry.map { Date(timeIntervalSince1970: $0) })
    }

    public func appendAudit(_ e: AuditEvent) async throws {
        try await run("append audit") { [self] in
            try await client.query("""
                INSERT INTO audit (time, action, outcome, reason, session, client, detail)
                VALUES (\(e.time.timeIntervalSince1970), \(e.action), \(e.outcome), \(e.reason), \(e.session), \(e.client), \(e.detail))
                """, logger: logger)
        }
    }

    public func auditEvents(limit: Int) async throws -> [AuditEvent] {
        try await run("read audit") { [self] in
            try await client.query("""
                SELECT time, action, outcome, reason, session, client, detail FROM
                (SELECT * FROM audit ORDER BY id DESC LIMIT \(limit)) recent ORDER BY id
                """, logger: logger).collect().map { row in
                let (time, action, outcome, reason, session, client, detail) =
                    try row.decode((Double, String, String, String, String, String, String).self)
                return AuditEvent(time: Date(timeIntervalSince1970: time), action: action, outcome: outcome, reason: reason,
                                  session: session, client: client, detail: detail)
            }
        }
    }

    /// Maps driver errors to `ArcaError(.io)`, keeping `ArcaError`s (from transforms) as they are.
    @discardableResult
    private func run<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        do {
            // The pool retries an unreachable server forever; a request must not wait forever.
            guard let result = try await watchdog.run(timeout: operationTimeout, body) else {
                throw ArcaError(.io, "postgresql \(what) did not finish within \(self.operationTimeout)")
            }
            return result
        } catch let error as ArcaError {
            throw error
        } catch let error as PostgresTransactionError where error.closureError is ArcaError {
            // A transform's own refusal (a lost compare-and-swap), after the rollback.
            throw error.closureError as? ArcaError ?? ArcaError(.io, "postgresql \(what) failed")
        } catch {
            throw ArcaError(.io, "postgresql \(what) failed: \(String(reflecting: error).prefix(300))")
        }
    }
}
