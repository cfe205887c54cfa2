import ArcaAttestation
import ArcaCore
@testable import ArcaKeeper
import ArcaKeeperAPI
import Crypto
import Foundation
import Logging
import Testing

/// The attestation path's store steps, caches and start-up rules.
@Suite struct AttestationPathTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func stored(_ name: String) -> StoredSession {
        StoredSession(name: name, owner: "owner", version: "1", hash: "h1", sealed: [1, 2, 3], createdAt: Self.t0, updatedAt: Self.t0)
    }

    @Test(arguments: StoreKind.allCases)
    func combinedStepsReadWhatTheReleaseNeedsAndRedeemOnce(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let runtime = SimRuntime()
            try await store.createSession(stored("shop/api"))
            try await store.addPlatform(runtime.platformRecord)
            let nonce = NonceRecord(nonce: "n1", session: "shop/api", service: "web", expiresAt: Self.t0.addingTimeInterval(60))
            // A refusing check stores nothing, and its Denial comes through as it was thrown.
            let denial = await #expect(throws: Denial.self) {
                try await store.insertNonce(nonce, checkingSession: { _ in throw Denial(404, .serviceNotFound, "no") })
            }
            #expect(denial?.reason == .serviceNotFound)
            #expect(try await store.redeemNonce("n1") == nil)
            // The check sees the session (or nil for an unknown one).
            try await store.insertNonce(nonce, checkingSession: { session in
                guard session?.name == "shop/api" else { throw Denial(404, .sessionNotFound, "missing") }
            })
            await #expect(throws: Denial.self) {
                try await store.insertNonce(NonceRecord(nonce: "n2", session: "x'); DROP TABLE nonces; --", service: "web", expiresAt: Self.t0),
                                            checkingSession: { session in
                                                if session == nil { throw Denial(404, .sessionNotFound, "missing") }
                                            })
            }
            let records = try await store.redeemNonce("n1", readingSession: "shop/api", platform: runtime.platformRecord.id)
            #expect(records == ReleaseRecords(nonce: nonce, session: stored("shop/api"), platform: runtime.platformRecord))
            // Single use; nothing else is read for a nonce that is gone.
            #expect(try await store.redeemNonce("n1", readingSession: "shop/api", platform: nil)
                    == ReleaseRecords(nonce: nil, session: nil, platform: nil))
            try await store.insertNonce(NonceRecord(nonce: "n3", session: "shop/api", service: "web", expiresAt: Self.t0))
            let unknownPlatform = try await store.redeemNonce("n3", readingSession: "no/such", platform: String(repeating: "0", count: 64))
            #expect(unknownPlatform.nonce?.nonce == "n3" && unknownPlatform.session == nil && unknownPlatform.platform == nil)
        }
    }

    @Test func sqliteDiscardsEveryNonceAtStart() async throws {
        try await withStore(.sqlite) { store, _ in
            let sqlite = try #require(store as? SQLiteStore)
            for name in ["a", "b"] {
                try await store.insertNonce(NonceRecord(nonce: name, session: "s", service: "w", expiresAt: Self.t0.addingTimeInterval(600)))
            }
            try await sqlite.discardAllNonces()
            #expect(try await store.redeemNonce("a") == nil)
            #expect(try await store.redeemNonce("b") == nil)
        }
    }

    /// The decoded-session cache must never hand out an old document: a session deleted and created
    /// again from the same YAML (same hash) has new generated secrets, and the release carries them.
    @Test func aRecreatedSessionReleasesItsNewSecrets() async throws {
        try await withStore(.sqlite) { store, _ in
            let runtime = SimRuntime()
            try await store.addPlatform(runtime.platformRecord)
            let keeper = Keeper(store: store, masterKey: try KeeperMasterKey(bytes: Array(repeating: 7, count: 32)))
            func release() async throws -> String? {
                let nonce = try await keeper.issueNonce(NonceRequest(session: "shop/api", service: "web"), client: nil).nonce
                let request = runtime.request(session: "shop/api", service: "web", nonce: nonce,
                                              evidence: try runtime.evidence(nonce: nonce, measurement: measurementA))
                let response = try await keeper.release(request, client: nil)
                let plaintext = try ReleaseEnvelope.open(Array(try #require(Data(base64Encoded: response.ciphertext))),
                                                         keeperPublicKey: try #require(Hex.decode(response.keeperPublicKey)),
                                                         privateKey: runtime.ephemeral, nonce: try #require(Hex.decode(nonce)))
                return try JSONDecoder().decode(ReleasePayload.self, from: Data(plaintext)).environment["DB_PASSWORD"]
            }
            let first = try await keeper.createSession(document: sessionYAML(), client: "owner")
            let before = try #require(try await release())
            #expect(try await release() == before)   // cached or not, the same document
            try await keeper.deleteSession(name: "shop/api", client: "owner")
            let second = try await keeper.createSession(document: sessionYAML(), client: "owner")
            #expect(second.hash == first.hash)
            let after = try #require(try await release())
            #expect(after != before)
        }
    }

    @Test func nonceBytesAreFreshAndFull() {
        let nonces = (0..<64).map { _ in Keeper.randomNonce() }
        #expect(nonces.allSatisfy { $0.count == 32 })
        #expect(Set(nonces).count == nonces.count)
        // Every byte position takes more than one value across the draws (no constant filler).
        #expect((0..<32).allSatisfy { index in Set(nonces.map { $0[index] }).count > 1 })
    }

    @Test func expiredNoncesArePurgedAtMostOnceASecond() async throws {
        try await withStore(.sqlite) { store, _ in
            let keeper = Keeper(store: store, masterKey: try KeeperMasterKey(bytes: Array(repeating: 7, count: 32)))
            #expect(keeper.shouldPurgeNonces(now: Self.t0))
            #expect(!keeper.shouldPurgeNonces(now: Self.t0.addingTimeInterval(0.5)))
            #expect(keeper.shouldPurgeNonces(now: Self.t0.addingTimeInterval(1)))
            #expect(keeper.shouldPurgeNonces(now: Self.t0.addingTimeInterval(-10)))   // a clock set back
        }
    }

    /// Log lines stay valid JSON whatever the values hold (quotes, backslashes, control characters, UTF-8).
    @Test func logLinesAreValidJSONWithSortedKeys() throws {
        let fields = ["message": "a \"quoted\" \\ value\nwith\tcontrol \u{1}\u{1f} and ünïcode", "session": "shop/api", "level": "warning"]
        let line = JSONLogHandler.line(fields: fields, time: "2026-11-26T19:27:07Z")
        #expect(line.last == 0x0a)
        let decoded = try JSONDecoder().decode([String: String].self, from: Data(line.dropLast()))
        #expect(decoded == fields.merging(["time": "2026-11-26T19:27:07Z"]) { $1 })
        let text = String(decoding: line, as: UTF8.self)
        #expect(text.hasPrefix("{\"level\":\"warning\",\"message\":"))
        #expect(!text.dropLast().contains("\n"))
        let now = JSONLogHandler.now()
        #expect(now.count == 20 && now.hasSuffix("Z") && now.dropFirst(10).first == "T")
    }
}
