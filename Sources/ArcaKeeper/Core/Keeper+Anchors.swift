import ArcaAttestation
import ArcaCore
import ArcaKeeperAPI
import ArcaSession
import FoundationEssentials

/// Volume anchors: who may touch them, and the operations.
extension Keeper {
    /// Runs one anchor operation (`get`, `lease`, `unlease`, `intent`, `commit`).
    public func anchor(_ operation: String, _ request: AnchorRequest, client: String?) async throws -> AnchorState {
        if operation == "reset" { return try await resetAnchor(request, client: client) }  // owner-only
        let audit = operation != "get"
        return try await audited("anchor.\(operation)", session: request.session, client: client, auditSuccess: audit) { entry in
            try Self.validName(request.session)
            try await authoriseAnchor(request, client: client)
            let now = clock()
            let holder = request.holder ?? ""
            func needHolder() throws {
                guard !holder.isEmpty, holder.utf8.count <= 128 else {
                    throw Denial(400, .malformedRequest, "anchor \(operation) needs a holder of 1 to 128 bytes")
                }
            }
            do {
                switch operation {
                case "get":
                    return try await store.anchor(session: request.session, volume: request.volume)
                case "lease":
                    try needHolder()
                    let seconds = request.leaseSeconds ?? 60
                    return try await store.updateAnchor(session: request.session, volume: request.volume) {
                        try AnchorLogic.lease($0, holder: holder, seconds: seconds, now: now)
                    }
                case "unlease":
                    try needHolder()
                    return try await store.updateAnchor(session: request.session, volume: request.volume) {
                        AnchorLogic.unlease($0, holder: holder)
                    }
                case "intent":
                    try needHolder()
                    guard let expected = request.expectedVersion, let root = request.rootHash else {
                        throw Denial(400, .malformedRequest, "anchor intent needs expectedVersion and rootHash")
                    }
                    entry.detail = "expected=\(expected)"
                    return try await store.updateAnchor(session: request.session, volume: request.volume) {
                        try AnchorLogic.intent($0, holder: holder, expectedVersion: expected, rootHash: root, now: now)
                    }
                case "commit":
                    try needHolder()
                    guard let version = request.version else {
                        throw Denial(400, .malformedRequest, "anchor commit needs version")
                    }
                    entry.detail = "version=\(version)"
                    return try await store.updateAnchor(session: request.session, volume: request.volume) {
                        try AnchorLogic.commit($0, holder: holder, version: version, now: now)
                    }
                default:
                    throw Denial(404, .notFound, "no anchor operation \(SessionValidator.quoted(operation))")
                }
            } catch let error as ArcaError where error.code == .conflict {
                throw Denial(409, .anchorConflict, error.message)
            } catch let error as ArcaError where error.code == .invalidArgument {
                throw Denial(400, .malformedRequest, error.message)
            }
        }
    }

    private func authoriseAnchor(_ request: AnchorRequest, client: String?) async throws {
        guard let stored = try await store.session(named: request.session) else {
            throw Denial(404, .sessionNotFound, "session \(request.session) does not exist")
        }
        guard try unseal(stored).volumes.contains(where: { $0.name == request.volume }) else {
            throw Denial(404, .notFound, "session \(request.session) has no volume \(SessionValidator.quoted(request.volume))")
        }
        if let client, client == stored.owner { return }
        let expected = masterKey.anchorToken(session: request.session, volume: request.volume)
        guard let token = request.anchorToken, constantTimeEqual(Array(token.utf8), Array(expected.utf8)) else {
            throw Denial(403, .anchorTokenInvalid, "anchor token for volume \(request.volume) is missing or wrong")
        }
    }
}
