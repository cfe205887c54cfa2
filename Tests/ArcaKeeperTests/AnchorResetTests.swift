import ArcaCore
import ArcaKeeper
import ArcaKeeperAPI
import Foundation
import Testing

/// `POST /v1/anchors/reset` (`Keeper.resetAnchor`): owner-only, audited, drops intent and lease.
@Suite struct AnchorResetTests {
    static let root1 = String(repeating: "11", count: 32)
    static let root7 = String(repeating: "7a", count: 32)

    func withKeeper(_ body: @escaping @Sendable (Keeper, any KeeperStore, KeeperMasterKey) async throws -> Void) async throws {
        try await withStore(.sqlite) { store, _ in
            let masterKey = try KeeperMasterKey(bytes: Array(repeating: 3, count: 32))
            let keeper = Keeper(store: store, masterKey: masterKey)
            _ = try await keeper.createSession(document: sessionYAML(), client: "owner")
            try await body(keeper, store, masterKey)
        }
    }

    func expectDenial(_ reason: Denial.Reason, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected \(reason.rawValue)")
        } catch let denial as Denial {
            #expect(denial.reason == reason, "\(denial)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func theOwnerResetsAndTheResetIsAudited() async throws {
        try await withKeeper { keeper, store, masterKey in
            let token = masterKey.anchorToken(session: "shop/api", volume: "data")
            // A running service commits version 1 and leaves an intent for 2, lease held.
            func runtime(_ change: (inout AnchorRequest) -> Void) -> AnchorRequest {
                var request = AnchorRequest(session: "shop/api", volume: "data", anchorToken: token, holder: "runtime", leaseSeconds: 600)
                change(&request)
                return request
            }
            _ = try await keeper.anchor("lease", runtime { _ in }, client: nil)
            _ = try await keeper.anchor("intent", runtime { $0.expectedVersion = 0; $0.rootHash = Self.root1 }, client: nil)
            _ = try await keeper.anchor("commit", runtime { $0.version = 1 }, client: nil)
            _ = try await keeper.anchor("intent", runtime { $0.expectedVersion = 1; $0.rootHash = Self.root1 }, client: nil)

            let after = try await keeper.anchor("reset", AnchorRequest(session: "shop/api", volume: "data", rootHash: Self.root7, version: 7),
                                                client: "owner")
            #expect(after == AnchorState(version: 7, rootHash: Self.root7))
            let events = try await store.auditEvents(limit: 50).filter { $0.action == "anchor.reset" }
            let event = try #require(events.first)
            #expect(event.outcome == "ok")
            #expect(event.client == "owner")
            #expect(event.detail == "volume=data from=1 to=7")
            // The old runtime's lease and intent are gone: its commit is refused.
            await expectDenial(.anchorConflict) { _ = try await keeper.anchor("commit", runtime { $0.version = 2 }, client: nil) }

            // Back to "nothing committed".
            #expect(try await keeper.anchor("reset", AnchorRequest(session: "shop/api", volume: "data", rootHash: "", version: 0),
                                            client: "owner").version == 0)
        }
    }

    @Test func nonOwnersAndAnchorTokensAreRefusedAndAudited() async throws {
        try await withKeeper { keeper, store, masterKey in
            let token = masterKey.anchorToken(session: "shop/api", volume: "data")
            let reset = AnchorRequest(session: "shop/api", volume: "data", anchorToken: token, rootHash: Self.root7, version: 7)
            // The running service's token is not enough: it must never roll its own volume back.
            await expectDenial(.clientCertificateRequired) { _ = try await keeper.anchor("reset", reset, client: nil) }
            await expectDenial(.notOwner) { _ = try await keeper.anchor("reset", reset, client: "someone-else") }
            let denied = try await store.auditEvents(limit: 50).filter { $0.action == "anchor.reset" }
            #expect(denied.count == 2)
            #expect(denied.allSatisfy { $0.outcome == "denied" })
            #expect(try await keeper.anchor("get", AnchorRequest(session: "shop/api", volume: "data"), client: "owner").version == 0)
        }
    }

    @Test func malformedResetsAreRefused() async throws {
        try await withKeeper { keeper, _, _ in
            for request in [
                AnchorRequest(session: "shop/api", volume: "data", rootHash: Self.root7),                    // no version
                AnchorRequest(session: "shop/api", volume: "data", rootHash: "", version: 3),                // no root
                AnchorRequest(session: "shop/api", volume: "data", rootHash: Self.root7.uppercased(), version: 3),
                AnchorRequest(session: "shop/api", volume: "data", rootHash: "11", version: 3),              // short
                AnchorRequest(session: "shop/api", volume: "data", rootHash: Self.root7, version: 0),        // 0 takes none
                AnchorRequest(session: "shop/api", volume: "data", rootHash: "", version: -1),
            ] {
                await expectDenial(.malformedRequest) { _ = try await keeper.anchor("reset", request, client: "owner") }
            }
            await expectDenial(.notFound) {
                _ = try await keeper.anchor("reset", AnchorRequest(session: "shop/api", volume: "nope", rootHash: "", version: 0), client: "owner")
            }
        }
    }
}
