import ArcaCore
import ArcaKeeperAPI
import FoundationEssentials

/// One stored version of a session. `sealed` is the canonical JSON of the session (with generated
/// secrets filled in), AES-GCM-encrypted under the keeper master key: the store never sees a key.
public struct StoredSession: Sendable, Equatable {
    public var name: String
    /// SHA-256 (hex) of the owner's client public key (SubjectPublicKeyInfo).
    public var owner: String
    public var version: String
    /// SHA-256 (hex) of the canonical form the owner submitted: what the next update names.
    public var hash: String
    public var sealed: [UInt8]
    public var createdAt: Date
    public var updatedAt: Date

    public init(name: String, owner: String, version: String, hash: String, sealed: [UInt8], createdAt: Date, updatedAt: Date) {
        self.name = name
        self.owner = owner
        self.version = version
        self.hash = hash
        self.sealed = sealed
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// An issued nonce: single use, for one service of one session, until `expiresAt`.
public struct NonceRecord: Sendable, Equatable {
    public var nonce: String
    public var session: String
    public var service: String
    public var expiresAt: Date
    public init(nonce: String, session: String, service: String, expiresAt: Date) {
        self.nonce = nonce
        self.session = session
        self.service = service
        self.expiresAt = expiresAt
    }
}

/// A registered `sim` platform key.
public struct PlatformRecord: Sendable, Equatable {
    /// SHA-256 (hex) of the SubjectPublicKeyInfo DER.
    public var id: String
    public var publicKeyDER: [UInt8]
    public var label: String
    public var addedAt: Date
    public init(id: String, publicKeyDER: [UInt8], label: String, addedAt: Date) {
        self.id = id
        self.publicKeyDER = publicKeyDER
        self.label = label
        self.addedAt = addedAt
    }
}

/// One line of the append-only audit log.
public struct AuditEvent: Sendable, Equatable, Codable {
    public var time: Date
    /// `session.create`, `session.update`, `session.delete`, `release`, `nonce`, `anchor.*`, `platform.add`.
    public var action: String
    /// `ok` or `denied`.
    public var outcome: String
    /// The denial reason (empty when ok).
    public var reason: String
    public var session: String
    /// The client's key ID, or the remote address for unauthenticated callers.
    public var client: String
    /// Free text: the evidence kind, `sim` warnings, versions. Never a key.
    public var detail: String

    public init(time: Date, action: String, outcome: String, reason: String = "", session: String = "", client: String = "", detail: String = "") {
        self.time = time
        self.action = action
        self.outcome = outcome
        self.reason = reason
        self.session = session
        self.client = client
        self.detail = detail
    }
}

/// Persistent state of the keeper. Implementations: `SQLiteStore` (GRDB) and `PostgresStore`.
/// Every method is atomic; compare-and-swap methods run in one transaction.
public protocol KeeperStore: Sendable {
    /// Creates or upgrades the schema. Idempotent; safe with several replicas starting at once.
    func migrate() async throws

    /// Inserts a new session; throws `.alreadyExists` if the name is taken.
    func createSession(_ session: StoredSession) async throws
    /// Replaces the current version if its hash is still `predecessor`; returns false otherwise.
    func updateSession(_ session: StoredSession, predecessor: String) async throws -> Bool
    func session(named name: String) async throws -> StoredSession?
    func sessions(ownedBy owner: String) async throws -> [StoredSession]
    /// Deletes a session with its nonces and anchors; returns false if there was none.
    func deleteSession(named name: String) async throws -> Bool

    func insertNonce(_ nonce: NonceRecord) async throws
    /// Removes and returns the nonce (single use, even when expired); nil if unknown or already used.
    func redeemNonce(_ nonce: String) async throws -> NonceRecord?
    /// Removes nonces that expired before `date`.
    func purgeNonces(expiredBefore date: Date) async throws
    /// Reads the nonce's session, runs `check` on it (which throws to refuse), then inserts the
    /// nonce. A default composes `session(named:)` and `insertNonce(_:)`.
    func insertNonce(_ nonce: NonceRecord, checkingSession check: @escaping @Sendable (StoredSession?) throws -> Void) async throws
    /// Redeems the nonce (as `redeemNonce(_:)`) and, if it existed, reads the session `name` and
    /// the platform `id`. A default composes the basic calls.
    func redeemNonce(_ nonce: String, readingSession name: String, platform id: String?) async throws -> ReleaseRecords

    /// Adds (or replaces the label of) a platform key.
    func addPlatform(_ platform: PlatformRecord) async throws
    func platform(id: String) async throws -> PlatformRecord?
    func platforms() async throws -> [PlatformRecord]

    /// Reads an anchor; a volume never anchored reads as version 0 with an empty root.
    func anchor(session: String, volume: String) async throws -> AnchorState
    /// Reads, transforms and writes one anchor in a single transaction (row-locked).
    func updateAnchor(session: String, volume: String,
                      _ transform: @escaping @Sendable (AnchorState) throws -> AnchorState) async throws -> AnchorState

    /// Appends to the audit log (which the schema makes append-only).
    func appendAudit(_ event: AuditEvent) async throws
    /// The most recent events, newest last.
    func auditEvents(limit: Int) async throws -> [AuditEvent]
}
