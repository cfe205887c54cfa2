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
            guard let stored = try await store.session(named: request.session) else {
                throw Denial(404, .sessionNotFound, "session \(request.session) does not exist")
            }
            guard try unseal(stored).service(named: request.service) != nil else {
                throw Denial(404, .serviceNotFound, "session \(request.session) has no service \(SessionValidator.quoted(request.service))")
            }
            var bytes = [UInt8](repeating: 0, count: 32)
            var rng = SystemRandomNumberGenerator()
            for i in bytes.indices { bytes[i] = rng.next() }
            let now = clock()
            try await store.purgeNonces(expiredBefore: now)
            let record = NonceRecord(nonce: Hex.encode(bytes), session: request.session, service: request.service,
                                     expiresAt: now.addingTimeInterval(nonceLifetime))
            try await store.insertNonce(record)
            return NonceResponse(nonce: record.nonce, expiresAt: record.expiresAt)
        }
    }

    public func release(_ request: ReleaseRequest, client: String?) async throws -> ReleaseResponse {
        try await audited("release", session: request.session, client: client) { audit in
            try await Release(keeper: self, request: request).run(audit: &audit)
        }
    }
}
