import ArcaAttestation
import ArcaCore
import ArcaKeeperAPI
import ArcaSession
import FoundationEssentials
import Logging
import Synchronization

/// The keeper's logic, independent of HTTP: sessions with ownership and compare-and-swap updates,
/// nonces, attestation and release, volume anchors. Every create, update, delete, release and
/// denial is written to the audit log with its reason.
public final class Keeper: Sendable {
    public let store: any KeeperStore
    let masterKey: KeeperMasterKey
    let clock: @Sendable () -> Date
    let verifiers: [EvidenceKind: any EvidenceVerifier]
    let nonceLifetime: Double
    let logger: Logger
    /// Called with every denial reason and every release kind (metrics hook).
    let observer: (@Sendable (KeeperEvent) -> Void)?
    /// Decoded sessions, so a nonce and a release do not open and decode the same document again.
    let sessionCache = SessionCache()
    /// Parsed `sim` platform keys by ID and DER (the row is still read for every release).
    let platformKeys = PlatformKeyCache()
    /// When expired nonces were last purged (the purge runs at most once a second, not per nonce).
    let lastNoncePurge = Mutex<Date>(.distantPast)

    /// - Parameters:
    ///   - verifiers: hardware evidence verifiers by kind; `sim` is built in (its keys come from the store).
    ///   - clock: the time source (tests inject one to expire nonces without sleeping).
    public init(store: any KeeperStore, masterKey: KeeperMasterKey, verifiers: [any EvidenceVerifier] = [],
                nonceLifetime: Double = 60, clock: @escaping @Sendable () -> Date = { Date() },
                logger: Logger = Logger(label: "arca.keeper"), observer: (@Sendable (KeeperEvent) -> Void)? = nil) {
        self.store = store
        self.masterKey = masterKey
        self.verifiers = Dictionary(verifiers.map { ($0.kind, $0) }, uniquingKeysWith: { first, _ in first })
        self.nonceLifetime = nonceLifetime
        self.clock = clock
        self.logger = logger
        self.observer = observer
    }

    // MARK: sessions

    public func createSession(document: String, client: String?) async throws -> SessionWriteResponse {
        try await audited("session.create", session: "", client: client) { audit in
            let owner = try Self.requireClient(client)
            let session = try Self.parse(document)
            audit.session = session.name
            let hash = try SessionDocument.hash(session)
            let resolved = try SecretFiller.fill(session, previous: nil)
            let now = clock()
            let stored = StoredSession(name: session.name, owner: owner, version: session.version, hash: hash,
                                       sealed: try masterKey.seal(SessionDocument.canonicalJSON(resolved), name: session.name),
                                       createdAt: now, updatedAt: now)
            do {
                try await store.createSession(stored)
            } catch let error as ArcaError where error.code == .alreadyExists {
                throw Denial(409, .sessionExists, "session \(session.name) exists already; update it with its predecessor hash")
            }
            audit.detail = "version=\(session.version) hash=\(hash)"
            return SessionWriteResponse(name: session.name, version: session.version, hash: hash)
        }
    }

    public func updateSession(name: String, document: String, client: String?) async throws -> SessionWriteResponse {
        try await audited("session.update", session: name, client: client) { audit in
            let owner = try Self.requireClient(client)
            try Self.validName(name)
            let session = try Self.parse(document)
            guard session.name == name else {
                throw Denial(400, .nameMismatch, "document names session \(session.name), not \(name)")
            }
            guard let predecessor = session.predecessor else {
                throw Denial(400, .missingPredecessor, "an update must name its predecessor (the hash of the version it replaces)")
            }
            let current = try await ownedSession(name, owner: owner)
            guard current.hash == predecessor else {
                throw Denial(409, .stalePredecessor, "predecessor \(predecessor) is not the current version \(current.hash)")
            }
            let previous = try unseal(current)
            let hash = try SessionDocument.hash(session)
            let resolved = try SecretFiller.fill(session, previous: previous)
            let stored = StoredSession(name: name, owner: owner, version: session.version, hash: hash,
                                       sealed: try masterKey.seal(SessionDocument.canonicalJSON(resolved), name: name),
                                       createdAt: current.createdAt, updatedAt: clock())
            guard try await store.updateSession(stored, predecessor: predecessor) else {
                throw Denial(409, .stalePredecessor, "session \(name) changed concurrently; predecessor \(predecessor) is stale")
            }
            audit.detail = "version=\(session.version) hash=\(hash) predecessor=\(predecessor)"
            return SessionWriteResponse(name: name, version: session.version, hash: hash)
        }
    }

    public func showSession(name: String, client: String?) async throws -> SessionShowResponse {
        try await audited("session.show", session: name, client: client, auditSuccess: false) { _ in
            let owner = try Self.requireClient(client)
            try Self.validName(name)
            let current = try await ownedSession(name, owner: owner)
            let json = try masterKey.open(current.sealed, name: name)
            return SessionShowResponse(name: name, version: current.version, hash: current.hash, owner: current.owner,
                                       createdAt: current.createdAt, updatedAt: current.updatedAt,
                                       session: String(decoding: json, as: UTF8.self))
        }
    }

    public func listSessions(client: String?) async throws -> [SessionSummary] {
        try await audited("session.list", session: "", client: client, auditSuccess: false) { _ in
            let owner = try Self.requireClient(client)
            return try await store.sessions(ownedBy: owner).map {
                SessionSummary(name: $0.name, version: $0.version, hash: $0.hash, updatedAt: $0.updatedAt)
            }
        }
    }

    public func deleteSession(name: String, client: String?) async throws {
        try await audited("session.delete", session: name, client: client) { _ in
            let owner = try Self.requireClient(client)
            try Self.validName(name)
            _ = try await ownedSession(name, owner: owner)
            _ = try await store.deleteSession(named: name)
            sessionCache.remove(name)
        }
    }

    // MARK: helpers

    func ownedSession(_ name: String, owner: String) async throws -> StoredSession {
        guard let current = try await store.session(named: name) else {
            throw Denial(404, .sessionNotFound, "session \(name) does not exist")
        }
        // Same answer shape for "not yours" as for a real owner check failure; the name's existence is
        // not secret (nonces reveal it anyway), the content is.
        guard current.owner == owner else {
            throw Denial(403, .notOwner, "session \(name) belongs to another client key")
        }
        return current
    }

    func unseal(_ stored: StoredSession) throws -> Session {
        try sessionCache.session(name: stored.name, sealed: stored.sealed) {
            try SessionDocument.decodeJSON(masterKey.open(stored.sealed, name: stored.name))
        }
    }

    static func requireClient(_ client: String?) throws -> String {
        guard let client else {
            throw Denial(401, .clientCertificateRequired, "this route needs a tls client certificate (the owner's key)")
        }
        return client
    }

    static func validName(_ name: String) throws {
        do {
            try SessionValidator.validateName(name)
        } catch let error as ArcaError {
            throw Denial(400, .invalidSession, error.message)
        }
    }

    static func parse(_ document: String) throws -> Session {
        do {
            return try SessionDocument.parse(document)
        } catch let error as ArcaError {
            throw Denial(400, .invalidSession, error.message)
        }
    }

    /// Runs `body`, writing an audit event for a denial (always) and for success (when asked).
    func audited<T>(_ action: String, session: String, client: String?, auditSuccess: Bool = true,
                    _ body: (inout AuditEntry) async throws -> T) async throws -> T {
        var entry = AuditEntry(session: session)
        do {
            let result = try await body(&entry)
            if auditSuccess {
                try await store.appendAudit(AuditEvent(time: clock(), action: action, outcome: "ok", session: entry.session,
                                                       client: client ?? "", detail: entry.detail))
            }
            return result
        } catch let denial as Denial {
            observer?(.denied(denial.reason))
            logger.warning("denied", metadata: ["action": "\(action)", "reason": "\(denial.reason.rawValue)",
                                                "session": "\(entry.session)", "detail": "\(denial.message)"])
            try await store.appendAudit(AuditEvent(time: clock(), action: action, outcome: "denied", reason: denial.reason.rawValue,
                                                   session: entry.session, client: client ?? "", detail: denial.message))
            throw denial
        }
    }
}

/// Mutable audit fields an operation fills in as it learns them.
struct AuditEntry {
    var session: String
    var detail = ""
}

/// What the keeper reports to its metrics.
public enum KeeperEvent: Sendable {
    case denied(Denial.Reason)
    case released(EvidenceKind)
}

/// Compares two byte strings in time independent of where they differ.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in a.indices { diff |= a[i] ^ b[i] }
    return diff == 0
}

extension Keeper {
    /// Records a denial found outside the keeper's operations (body limits, malformed JSON) and returns it.
    public func deny(_ denial: Denial, action: String, session: String = "", client: String) async -> Denial {
        observer?(.denied(denial.reason))
        logger.warning("denied", metadata: ["action": "\(action)", "reason": "\(denial.reason.rawValue)", "detail": "\(denial.message)"])
        try? await store.appendAudit(AuditEvent(time: clock(), action: action, outcome: "denied", reason: denial.reason.rawValue,
                                                session: session, client: client, detail: denial.message))
        return denial
    }
}
