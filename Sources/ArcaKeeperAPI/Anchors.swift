import FoundationEssentials

/// The rollback anchor of one volume: the last committed version and root hash, an optional
/// pending intent, and the single-writer lease.
public struct AnchorState: Codable, Sendable, Equatable {
    public var version: Int64
    /// Root hash of the committed version, hex (empty before the first commit).
    public var rootHash: String
    public var pendingVersion: Int64?
    public var pendingRootHash: String?
    public var leaseHolder: String?
    public var leaseExpiresAt: Date?
    public init(version: Int64, rootHash: String, pendingVersion: Int64? = nil, pendingRootHash: String? = nil,
                leaseHolder: String? = nil, leaseExpiresAt: Date? = nil) {
        self.version = version
        self.rootHash = rootHash
        self.pendingVersion = pendingVersion
        self.pendingRootHash = pendingRootHash
        self.leaseHolder = leaseHolder
        self.leaseExpiresAt = leaseExpiresAt
    }
}

/// `POST /v1/anchors/{get,lease,intent,commit,unlease}`: one operation on a volume anchor.
/// Authorised by the session owner's client key or by the volume's `anchorToken` from a release.
public struct AnchorRequest: Codable, Sendable {
    public var session: String
    public var volume: String
    public var anchorToken: String?
    /// Lease holder identity (random, chosen by the runtime), for lease/intent/commit/unlease.
    public var holder: String?
    /// Lease duration in seconds (lease only).
    public var leaseSeconds: Int?
    /// The version the writer believes is committed (intent only): compare-and-swap.
    public var expectedVersion: Int64?
    /// The root hash of the next version, hex (intent only).
    public var rootHash: String?
    /// The version being committed (commit only): must equal the pending version.
    public var version: Int64?

    public init(session: String, volume: String, anchorToken: String? = nil, holder: String? = nil, leaseSeconds: Int? = nil,
                expectedVersion: Int64? = nil, rootHash: String? = nil, version: Int64? = nil) {
        self.session = session
        self.volume = volume
        self.anchorToken = anchorToken
        self.holder = holder
        self.leaseSeconds = leaseSeconds
        self.expectedVersion = expectedVersion
        self.rootHash = rootHash
        self.version = version
    }
}
