import FoundationEssentials

/// What a release reads from the store when it redeems its nonce.
public struct ReleaseRecords: Sendable, Equatable {
    /// The redeemed nonce; nil if it was unknown or already used.
    public var nonce: NonceRecord?
    public var session: StoredSession?
    /// The `sim` platform named by the evidence, when one was asked for and is registered.
    public var platform: PlatformRecord?

    public init(nonce: NonceRecord?, session: StoredSession?, platform: PlatformRecord?) {
        self.nonce = nonce
        self.session = session
        self.platform = platform
    }
}

/// The store operations of one attestation, each a single step where the store can make it one
/// (SQLite: one transaction on the writer connection instead of a read, a write and a read).
/// These defaults compose the basic operations, with the same atomicity of the nonce itself.
extension KeeperStore {
    public func insertNonce(_ nonce: NonceRecord, checkingSession check: @escaping @Sendable (StoredSession?) throws -> Void) async throws {
        try check(try await session(named: nonce.session))
        try await insertNonce(nonce)
    }

    public func redeemNonce(_ nonce: String, readingSession name: String, platform id: String?) async throws -> ReleaseRecords {
        guard let record = try await redeemNonce(nonce) else {
            return ReleaseRecords(nonce: nil, session: nil, platform: nil)
        }
        return ReleaseRecords(nonce: record, session: try await session(named: name),
                              platform: try await id.asyncFlatMap { try await platform(id: $0) })
    }
}

private extension Optional {
    func asyncFlatMap<U>(_ transform: (Wrapped) async throws -> U?) async rethrows -> U? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
