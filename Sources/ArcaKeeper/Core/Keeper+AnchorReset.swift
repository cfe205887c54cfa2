import ArcaCore
import ArcaKeeperAPI
import ArcaSession
import FoundationEssentials

/// `POST /v1/anchors/reset`: the session owner moves a volume's anchor to a chosen state, for a
/// deliberate restore from a backup or after `arca volume rotate`. Owner-only (an anchor token
/// from a release is not enough: a running service must never be able to roll its own volume
/// back) and audited with the old and the new version. The request's `version` and `rootHash`
/// give the new committed state (version 0 with an empty root: "nothing committed", so the next
/// start creates a fresh volume); any pending intent and any lease are dropped.
extension Keeper {
    public func resetAnchor(_ request: AnchorRequest, client: String?) async throws -> AnchorState {
        try await audited("anchor.reset", session: request.session, client: client) { entry in
            try Self.validName(request.session)
            let owner = try Self.requireClient(client)
            let stored = try await ownedSession(request.session, owner: owner)
            guard try unseal(stored).volumes.contains(where: { $0.name == request.volume }) else {
                throw Denial(404, .notFound, "session \(request.session) has no volume \(SessionValidator.quoted(request.volume))")
            }
            guard let version = request.version, version >= 0 else {
                throw Denial(400, .malformedRequest, "anchor reset needs a version of 0 or more")
            }
            let root = request.rootHash ?? ""
            if version == 0 {
                guard root.isEmpty else { throw Denial(400, .malformedRequest, "anchor reset to version 0 takes no root hash") }
            } else {
                guard let bytes = Hex.decode(root), bytes.count == 32, root == root.lowercased() else {
                    throw Denial(400, .malformedRequest, "anchor reset needs a root hash of 64 lowercase hex digits")
                }
            }
            let before = try await store.anchor(session: request.session, volume: request.volume)
            entry.detail = "volume=\(request.volume) from=\(before.version) to=\(version)"
            return try await store.updateAnchor(session: request.session, volume: request.volume) { _ in
                AnchorState(version: version, rootHash: root)
            }
        }
    }
}
