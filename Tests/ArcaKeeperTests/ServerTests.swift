import ArcaAttestation
import ArcaCore
import ArcaKeeper
import ArcaKeeperAPI
import ArcaKeeperClient
import ArcaSession
import Crypto
import Foundation
import NIOHTTP1
import Testing

/// A keeper on loopback with one session (`shop/api`, owned by `owner`) and a registered sim platform.
struct ServerFixture: Sendable {
    let running: RunningKeeper
    let owner: TLSIdentity
    let stranger: TLSIdentity
    let runtime: SimRuntime
    let created: SessionWriteResponse

    var ownerClient: KeeperClient { get throws { try running.client(owner) } }
    var anonymous: KeeperClient { get throws { try running.client(nil) } }

    /// The last audit event, which must name `reason`.
    func expectAudited(_ reason: Denial.Reason, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let events = try await running.keeper.store.auditEvents(limit: 1)
        #expect(events.last?.outcome == "denied", sourceLocation: sourceLocation)
        #expect(events.last?.reason == reason.rawValue, sourceLocation: sourceLocation)
    }

    /// Runs `body`, which must fail with `reason`; checks the audit log, and that no key leaked.
    func expectDenied(_ reason: Denial.Reason, sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: () async throws -> Void) async throws {
        do {
            try await body()
            Issue.record("expected a \(reason.rawValue) denial", sourceLocation: sourceLocation)
        } catch let error as KeeperRequestError {
            #expect(error.reason == reason.rawValue, "\(error)", sourceLocation: sourceLocation)
            #expect(!error.message.contains(shieldKey), sourceLocation: sourceLocation)
            try await expectAudited(reason, sourceLocation: sourceLocation)
        }
    }

    func release(_ request: ReleaseRequest) async throws -> ReleasePayload {
        let response = try await anonymous.release(request)
        let plaintext = try ReleaseEnvelope.open(Array(Data(base64Encoded: response.ciphertext) ?? Data()),
                                                 keeperPublicKey: Hex.decode(response.keeperPublicKey) ?? [],
                                                 privateKey: runtime.ephemeral, nonce: Hex.decode(request.nonce) ?? [])
        return try JSONDecoder().decode(ReleasePayload.self, from: Data(plaintext))
    }
}

func withServer<T: Sendable>(_ kind: StoreKind, allowed: [String] = ["sim"], rateBurst: Int = 10_000,
                             _ body: @escaping @Sendable (ServerFixture) async throws -> T) async throws -> T {
    try await withStore(kind) { store, dir in
        try await withKeeper(store: store, dir: dir, rateBurst: rateBurst) { running in
            let owner = try TLSIdentity.generate(commonName: "owner")
            let runtime = SimRuntime()
            try await store.addPlatform(runtime.platformRecord)
            let created = try await running.client(owner).createSession(document: sessionYAML(allowed: allowed, signer: true))
            return try await body(ServerFixture(running: running, owner: owner, stranger: try TLSIdentity.generate(commonName: "x"),
                                                runtime: runtime, created: created))
        }
    }
}

@Suite(.serialized) struct ServerTests {
    @Test(arguments: StoreKind.allCases)
    func attestsAndReleasesTheServiceSecrets(_ kind: StoreKind) async throws {
        try await withServer(kind) { f in
            let client = try f.anonymous
            let nonce = try await client.nonce(session: "shop/api", service: "web")
            let evidence = try f.runtime.evidence(nonce: nonce.nonce, measurement: measurementA)
            let payload = try await f.release(f.runtime.request(session: "shop/api", service: "web", nonce: nonce.nonce, evidence: evidence))
            #expect(payload.keys == ["app": shieldKey])
            #expect(payload.command == ["python3", "/app/main.py"])
            #expect(payload.environment["MODE"] == "prod")
            #expect(payload.environment["DB_PASSWORD"]?.count == 24)
            #expect(payload.files.map(\.path) == ["/run/secrets/tls.key"])
            #expect(Data(base64Encoded: payload.files[0].content)?.count == 32)
            #expect(payload.volumes.map(\.name) == ["data"])
            #expect(payload.volumes[0].key.count == 64)
            #expect(payload.sessionHash == f.created.hash)
            let audit = try await f.running.keeper.store.auditEvents(limit: 1)
            #expect(audit.last?.action == "release" && audit.last?.outcome == "ok")
            #expect(audit.last?.detail.contains("SIM-RELEASE") == true)
            #expect(!(audit.last?.detail.contains(shieldKey) ?? true))
            let metrics = f.running.metrics.exposition()
            #expect(metrics.contains("arca_keeper_releases_total{kind=\"sim\"} 1"))

            // The owner sees generated secrets; they are stable across an update that keeps them.
            let shown = try await f.ownerClient.showSession(name: "shop/api")
            let session = try SessionDocument.decodeJSON(Array(shown.session.utf8))
            #expect(session.secrets[0].value == payload.environment["DB_PASSWORD"])
            let updated = try await f.ownerClient.updateSession(
                name: "shop/api", document: sessionYAML(version: "2", predecessor: f.created.hash, signer: true))
            let again = try SessionDocument.decodeJSON(Array(try await f.ownerClient.showSession(name: "shop/api").session.utf8))
            #expect(again.secrets[0].value == session.secrets[0].value)
            #expect(again.volumes[0].key == session.volumes[0].key)
            #expect(try await f.ownerClient.listSessions().map(\.hash) == [updated.hash])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func deniesReplayedExpiredAndForeignNonces(_ kind: StoreKind) async throws {
        try await withServer(kind) { f in
            let client = try f.anonymous
            // Replayed.
            let n1 = try await client.nonce(session: "shop/api", service: "web").nonce
            let request = f.runtime.request(session: "shop/api", service: "web", nonce: n1,
                                            evidence: try f.runtime.evidence(nonce: n1, measurement: measurementA))
            _ = try await f.release(request)
            try await f.expectDenied(.nonceUnknown) { _ = try await client.release(request) }
            // Expired: the clock moves past the 60 s lifetime, no sleeping.
            let n2 = try await client.nonce(session: "shop/api", service: "web").nonce
            f.running.clock.advance(61)
            try await f.expectDenied(.nonceExpired) {
                _ = try await client.release(f.runtime.request(session: "shop/api", service: "web", nonce: n2,
                                                               evidence: try f.runtime.evidence(nonce: n2, measurement: measurementA)))
            }
            // Issued for another session.
            _ = try await f.ownerClient.createSession(document: sessionYAML(name: "shop/other"))
            let n3 = try await client.nonce(session: "shop/other", service: "web").nonce
            try await f.expectDenied(.nonceMismatch) {
                _ = try await client.release(f.runtime.request(session: "shop/api", service: "web", nonce: n3,
                                                               evidence: try f.runtime.evidence(nonce: n3, measurement: measurementA)))
            }
            // Never issued.
            let n4 = String(repeating: "00", count: 32)
            try await f.expectDenied(.nonceUnknown) {
                _ = try await client.release(f.runtime.request(session: "shop/api", service: "web", nonce: n4,
                                                               evidence: try f.runtime.evidence(nonce: n4, measurement: measurementA)))
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func deniesBadEvidence(_ kind: StoreKind) async throws {
        try await withServer(kind) { f in
            let client = try f.anonymous
            func fresh() async throws -> String { try await client.nonce(session: "shop/api", service: "web").nonce }

            // Evidence from an unregistered platform.
            let n1 = try await fresh()
            let stranger = SimRuntime()
            try await f.expectDenied(.platformUnregistered) {
                var request = stranger.request(session: "shop/api", service: "web", nonce: n1,
                                                evidence: try stranger.evidence(nonce: n1, measurement: measurementA))
                request.ephemeralPublicKey = Hex.encode(f.runtime.ephemeral.publicKey.x963Representation)
                _ = try await client.release(request)
            }
            // Report data bound to another ephemeral key than the one presented.
            let n2 = try await fresh()
            let otherKey = Array(P256.KeyAgreement.PrivateKey().publicKey.x963Representation)
            try await f.expectDenied(.reportDataMismatch) {
                _ = try await client.release(f.runtime.request(session: "shop/api", service: "web", nonce: n2,
                    evidence: try f.runtime.evidence(nonce: n2, measurement: measurementA, bindKey: otherKey)))
            }
            // A measurement the service does not accept.
            let n3 = try await fresh()
            try await f.expectDenied(.measurementMismatch) {
                _ = try await client.release(f.runtime.request(session: "shop/api", service: "web", nonce: n3,
                    evidence: try f.runtime.evidence(nonce: n3, measurement: measurementB)))
            }
            // Signer right, version below the minimum (worker requires version 5).
            let n4 = try await client.nonce(session: "shop/api", service: "worker").nonce
            try await f.expectDenied(.versionBelowMinimum) {
                _ = try await client.release(f.runtime.request(session: "shop/api", service: "worker", nonce: n4,
                    evidence: try f.runtime.evidence(nonce: n4, measurement: measurementB, signer: signerID, version: 4)))
            }
            // Same with version 5 is released.
            let n5 = try await client.nonce(session: "shop/api", service: "worker").nonce
            let payload = try await f.release(f.runtime.request(session: "shop/api", service: "worker", nonce: n5,
                evidence: try f.runtime.evidence(nonce: n5, measurement: measurementB, signer: signerID, version: 5)))
            #expect(payload.service == "worker")
            // Garbage evidence.
            let n6 = try await fresh()
            try await f.expectDenied(.evidenceInvalid) {
                _ = try await client.release(f.runtime.request(session: "shop/api", service: "web", nonce: n6,
                                                               evidence: Data("{}".utf8).base64EncodedString()))
            }
            // A kind the session does not allow.
            let n7 = try await fresh()
            try await f.expectDenied(.evidenceKindNotAllowed) {
                _ = try await client.release(f.runtime.request(session: "shop/api", service: "web", nonce: n7,
                                                               evidence: "AAAA", kind: "sgx"))
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func deniesSimEvidenceToASessionThatDoesNotAllowIt(_ kind: StoreKind) async throws {
        try await withServer(kind, allowed: ["sgx"]) { f in
            let client = try f.anonymous
            let nonce = try await client.nonce(session: "shop/api", service: "web").nonce
            try await f.expectDenied(.evidenceKindNotAllowed) {
                _ = try await client.release(f.runtime.request(session: "shop/api", service: "web", nonce: nonce,
                    evidence: try f.runtime.evidence(nonce: nonce, measurement: measurementA)))
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func onlyTheOwnerReadsUpdatesOrDeletes(_ kind: StoreKind) async throws {
        try await withServer(kind) { f in
            let stranger = try f.running.client(f.stranger)
            try await f.expectDenied(.notOwner) { _ = try await stranger.showSession(name: "shop/api") }
            try await f.expectDenied(.notOwner) {
                _ = try await stranger.updateSession(name: "shop/api", document: sessionYAML(version: "2", predecessor: f.created.hash))
            }
            try await f.expectDenied(.notOwner) { try await stranger.deleteSession(name: "shop/api") }
            try await f.expectDenied(.clientCertificateRequired) { _ = try await f.anonymous.showSession(name: "shop/api") }
            try await f.expectDenied(.sessionExists) { _ = try await stranger.createSession(document: sessionYAML()) }
            #expect(try await stranger.listSessions().isEmpty)
            // The stranger's own session is theirs.
            _ = try await stranger.createSession(document: sessionYAML(name: "other/app"))
            #expect(try await stranger.listSessions().map(\.name) == ["other/app"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func updatesNeedTheCurrentPredecessorAndOnlyOneConcurrentUpdateWins(_ kind: StoreKind) async throws {
        try await withServer(kind) { f in
            let owner = try f.ownerClient
            try await f.expectDenied(.missingPredecessor) {
                _ = try await owner.updateSession(name: "shop/api", document: sessionYAML(version: "2"))
            }
            try await f.expectDenied(.stalePredecessor) {
                _ = try await owner.updateSession(name: "shop/api",
                                                  document: sessionYAML(version: "2", predecessor: String(repeating: "0", count: 64)))
            }
            let results = await withTaskGroup(of: Bool.self) { group in
                for i in 0..<6 {
                    group.addTask {
                        (try? await owner.updateSession(name: "shop/api",
                            document: sessionYAML(version: "v\(i)", predecessor: f.created.hash, signer: true))) != nil
                    }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(results.filter { $0 }.count == 1)
            let events = try await f.running.keeper.store.auditEvents(limit: 6)
            #expect(events.filter { $0.reason == "stale-predecessor" }.count == 5)
            #expect(events.filter { $0.action == "session.update" && $0.outcome == "ok" }.count == 1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func deniesOversizedMalformedAndHostileBodies(_ kind: StoreKind) async throws {
        try await withServer(kind) { f in
            let client = try f.ownerClient
            let huge = Array(#"{"document":""#.utf8) + Array(repeating: UInt8(ascii: "a"), count: 2 * 1024 * 1024 + 10) + Array(#""}"#.utf8)
            try await f.expectDenied(.bodyTooLarge) { _ = try await client.raw(.POST, "/v1/sessions", body: huge) }
            try await f.expectDenied(.malformedRequest) { _ = try await client.raw(.POST, "/v1/sessions", body: Array("{not json".utf8)) }
            try await f.expectDenied(.malformedRequest) { _ = try await client.raw(.POST, "/v1/release", body: Array("[]".utf8)) }
            try await f.expectDenied(.invalidSession) {
                _ = try await client.createSession(document: sessionYAML(name: "'x''); DROP TABLE sessions; --'"))
            }
            try await f.expectDenied(.invalidSession) { _ = try await client.createSession(document: "name: [unclosed") }
            for name in ["..%2F..%2Fetc", "shop%27%3B%20DROP%20TABLE%20sessions", "shop/..", "SHOP/API"] {
                try await f.expectDenied(.invalidSession) { _ = try await client.raw(.GET, "/v1/sessions/\(name)", body: nil) }
            }
            try await f.expectDenied(.invalidSession) {
                _ = try await client.nonce(session: "x'; DELETE FROM nonces; --", service: "web")
            }
            // Everything still works afterwards.
            #expect(try await client.showSession(name: "shop/api").hash == f.created.hash)
        }
    }

    @Test func rateLimitsAClientWith429() async throws {
        try await withServer(.sqlite, rateBurst: 5) { f in
            let client = try f.anonymous
            var limited: KeeperRequestError?
            for _ in 0..<20 {
                do { _ = try await client.nonce(session: "shop/api", service: "web") } catch let error as KeeperRequestError {
                    limited = error
                    break
                }
            }
            #expect(limited?.status == 429)
            #expect(limited?.reason == "rate-limited")
            // Health probes are exempt.
            #expect(try await client.raw(.GET, "/healthz", body: nil).status == 200)
            #expect(f.running.metrics.exposition().contains("reason=\"rate-limited\""))
        }
    }

    @Test func servesHealthReadinessAndMetrics() async throws {
        try await withServer(.sqlite) { f in
            let client = try f.anonymous
            #expect(try await client.raw(.GET, "/healthz", body: nil).status == 200)
            #expect(try await client.raw(.GET, "/readyz", body: nil).status == 200)
            let metrics = String(decoding: try await client.raw(.GET, "/metrics", body: nil).body, as: UTF8.self)
            #expect(metrics.contains("arca_keeper_requests_total"))
            #expect(metrics.contains("arca_keeper_request_duration_seconds_bucket"))
        }
    }

    @Test func refusesAKeeperWithTheWrongPin() async throws {
        try await withServer(.sqlite) { f in
            let wrong = try KeeperClient(url: f.running.url, pin: String(repeating: "ee", count: 32), identity: nil)
            let error = await #expect(throws: ArcaError.self) { _ = try await wrong.raw(.GET, "/healthz", body: nil) }
            #expect(error?.code == .integrity)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func anchorsThroughTheAPI(_ kind: StoreKind) async throws {
        try await withServer(kind) { f in
            let client = try f.anonymous
            let nonce = try await client.nonce(session: "shop/api", service: "web").nonce
            let payload = try await f.release(f.runtime.request(session: "shop/api", service: "web", nonce: nonce,
                evidence: try f.runtime.evidence(nonce: nonce, measurement: measurementA)))
            let token = payload.volumes[0].anchorToken
            try await f.expectDenied(.anchorTokenInvalid) {
                _ = try await client.anchor("get", AnchorRequest(session: "shop/api", volume: "data", anchorToken: String(repeating: "0", count: 64)))
            }
            func op(_ name: String, _ fill: (inout AnchorRequest) -> Void = { _ in }) async throws -> AnchorState {
                var request = AnchorRequest(session: "shop/api", volume: "data", anchorToken: token, holder: "runtime-1")
                fill(&request)
                return try await client.anchor(name, request)
            }
            _ = try await op("lease") { $0.leaseSeconds = 30 }
            let root = String(repeating: "9f", count: 32)
            _ = try await op("intent") { $0.expectedVersion = 0; $0.rootHash = root }
            let committed = try await op("commit") { $0.version = 1 }
            #expect(committed.version == 1 && committed.rootHash == root)
            try await f.expectDenied(.anchorConflict) { _ = try await op("intent") { $0.expectedVersion = 0; $0.rootHash = root } }
            // The owner may read it without a token.
            #expect(try await f.ownerClient.anchor("get", AnchorRequest(session: "shop/api", volume: "data")).version == 1)
        }
    }
}
