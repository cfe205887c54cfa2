import ArcaAttestation
import ArcaCore
import ArcaKeeperAPI
import ArcaSession
import FoundationEssentials

/// Nonces and releases.
extension Keeper {
    public func issueNonce(_ request: NonceRequest, client: String?) async throws -> NonceResponse {
        try await audited("nonce", session: request.session, client: client, auditSuccess: false) { _ in
            try Self.validName(request.session)
            let now = clock()
            if shouldPurgeNonces(now: now) { try await store.purgeNonces(expiredBefore: now) }
            let record = NonceRecord(nonce: Hex.encode(Self.randomNonce()), session: request.session, service: request.service,
                                     expiresAt: now.addingTimeInterval(nonceLifetime))
            // The session must exist and have the service; checked as the nonce is stored.
            try await store.insertNonce(record, checkingSession: { [self] stored in
                guard let stored else {
                    throw Denial(404, .sessionNotFound, "session \(request.session) does not exist")
                }
                guard try unseal(stored).service(named: request.service) != nil else {
                    throw Denial(404, .serviceNotFound, "session \(request.session) has no service \(SessionValidator.quoted(request.service))")
                }
            })
            return NonceResponse(nonce: record.nonce, expiresAt: record.expiresAt)
        }
    }

    /// 32 random bytes from the system generator, in four 8-byte draws (one `getrandom` each,
    /// not one per byte).
    static func randomNonce() -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for _ in 0..<4 { withUnsafeBytes(of: rng.next() as UInt64) { bytes += $0 } }
        return bytes
    }

    /// True at most once a second: expired nonces are refused by their expiry anyway, the purge
    /// only keeps the table small, and running it per nonce cost a store write each time.
    func shouldPurgeNonces(now: Date) -> Bool {
        lastNoncePurge.withLock { last in
            guard now.timeIntervalSince(last) >= 1 || now < last else { return false }
            last = now
            return true
        }
    }

    public func release(_ request: ReleaseRequest, client: String?) async throws -> ReleaseResponse {
        try await audited("release", session: request.session, client: client) { audit in
            try await Release(keeper: self, request: request).run(audit: &audit)
        }
    }
}
