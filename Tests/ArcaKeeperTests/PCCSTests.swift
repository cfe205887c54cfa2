import ArcaAttestation
import ArcaCore
import ArcaKeeper
import ArcaKeeperAPI
import ArcaTestSupport
import Crypto
import Foundation
import Logging
import Testing

/// Intel collateral from a PCCS-compatible endpoint: a local server (`FakePCCS`) serves the
/// published sample collateral the way Intel PCS/PCCS v4 does; hostile answers are refused with
/// an error naming what is wrong, and none of them is cached.
@Suite struct PCCSTests {
    static let tdxTime = "2023-07-01T01:00:00Z"

    /// Runs `body` with a server for `routes`, a client for it and an empty cache; tears both down.
    func withPCCS<T>(_ routes: [String: FakePCCS.Response],
                     _ body: (FakePCCS, IntelCollateralCache) async throws -> T) async throws -> T {
        let server = try FakePCCS(routes: routes)
        let client = try PCCSClient(baseURL: server.baseURL + "/", timeoutSeconds: 5)
        let cache = IntelCollateralCache(imported: [], pccs: client)
        do {
            let result = try await body(server, cache)
            try await client.shutdown()
            server.stop()
            return result
        } catch {
            try? await client.shutdown()
            server.stop()
            throw error
        }
    }

    func verifyTDX(_ cache: IntelCollateralCache, at time: String = tdxTime) async throws -> VerifiedEvidence {
        try await CachedCollateralDCAPVerifier(kind: .tdx, cache: cache)
            .verifyFetchingCollateral(try AttestationSamples.bytes("tdx/trustee/tdx_quote_4.dat"), at: try AttestationSamples.time(time))
    }

    func expectRefusal(_ fragment: String, sourceLocation: SourceLocation = #_sourceLocation,
                       _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected a failure containing '\(fragment)'", sourceLocation: sourceLocation)
        } catch let error as ArcaError {
            #expect(error.message.contains(fragment), "message was: \(error.message)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected an ArcaError, got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func tdxCollateralIsFetchedValidatedAndCached() async throws {
        let answers = try AttestationSamples.goTDX()
        try await withPCCS(answers.routes) { server, cache in
            let verified = try await verifyTDX(cache)
            #expect(verified.tcbStatus == "UpToDate")
            #expect(verified.debug)
            #expect(verified.measurements["fmspc"] == "50806f000000")
            #expect(Set(server.requests) == [answers.tcbTarget, answers.qeTarget, answers.crlTarget, AttestationSamples.PCSAnswers.rootTarget])
            #expect(await cache.cachedCount == 1)
            // Served from the cache the second time.
            _ = try await verifyTDX(cache, at: "2023-07-02T00:00:00Z")
            #expect(server.requests.count == 4)
            // After the earliest nextUpdate (QE Identity, PCK CRL: 2023-07-08) the set is refetched,
            // and the same answer is now stale: refused, and the stale entry is gone.
            await expectRefusal("not current") { _ = try await verifyTDX(cache, at: "2023-07-09T00:00:00Z") }
            #expect(server.requests.count == 8)
            #expect(await cache.cachedCount == 0)
        }
    }

    @Test func sgxCollateralComesFromTheProcessorCAsCRL() async throws {
        let answers = try AttestationSamples.dcapQVLSGX()
        try await withPCCS(answers.routes) { server, cache in
            let verified = try await CachedCollateralDCAPVerifier(kind: .sgx, cache: cache)
                .verifyFetchingCollateral(try AttestationSamples.bytes("sgx/dcap-qvl/sgx_quote.dat"),
                                          at: try AttestationSamples.time("2025-07-01T00:00:00Z"))
            #expect(verified.tcbStatus == "ConfigurationAndSWHardeningNeeded")
            #expect(verified.advisories.sorted() == ["INTEL-SA-00289", "INTEL-SA-00615"])
            #expect(server.requests.contains("/sgx/certification/v4/pckcrl?ca=processor&encoding=der"))
        }
    }

    @Test func aForgedQuoteFetchesNothing() async throws {
        var quote = try AttestationSamples.bytes("tdx/trustee/tdx_quote_4.dat")
        quote[200] ^= 0x01  // inside the TD report body: the quote signature fails
        try await withPCCS(try AttestationSamples.goTDX().routes) { server, cache in
            await expectRefusal("quote signature does not verify") {
                _ = try await CachedCollateralDCAPVerifier(kind: .tdx, cache: cache)
                    .verifyFetchingCollateral(quote, at: try AttestationSamples.time(Self.tdxTime))
            }
            #expect(server.requests.isEmpty)
        }
    }

    @Test func hostileAnswersAreRefusedAndNeverCached() async throws {
        let good = try AttestationSamples.goTDX()
        let leafPEM = String(decoding: good.tcbChain, as: UTF8.self).components(separatedBy: "-----END CERTIFICATE-----")[0]
            + "-----END CERTIFICATE-----\n"
        let foreignChain = Array(leafPEM.utf8) + (try AttestationSamples.bytes("roots/amd/ark_milan.pem"))
        let tampered = Array(String(decoding: good.tcbBody, as: UTF8.self)
            .replacingOccurrences(of: "\"tcbStatus\":\"UpToDate\"", with: "\"tcbStatus\":\"UpToDatE\"").utf8)
        #expect(tampered != good.tcbBody)
        let v5 = try AttestationSamples.bytes("tdx/go-tdx-guest/sample_tcbinfo_response_v5")
        let tcbHeaders = [("TCB-Info-Issuer-Chain", FakePCCS.urlEncode(good.tcbChain))]
        let cases: [(String, String, FakePCCS.Response, String)] = [
            ("wrong fmspc", good.tcbTarget, .init(headers: tcbHeaders, body: v5),
             "TCB Info is for FMSPC 90c06f000000, but FMSPC 50806f000000 was asked for"),
            ("tampered body", good.tcbTarget, .init(headers: tcbHeaders, body: tampered), "TCB Info signature does not verify"),
            ("foreign issuer chain", good.tcbTarget,
             .init(headers: [("TCB-Info-Issuer-Chain", FakePCCS.urlEncode(foreignChain))], body: good.tcbBody), "which is not a pinned root"),
            ("no issuer chain", good.tcbTarget, .init(body: good.tcbBody), "has no TCB-Info-Issuer-Chain header"),
            ("404", good.tcbTarget, .init(status: 404, body: Array("no such fmspc".utf8)), "pccs answered 404"),
            ("500", good.crlTarget, .init(status: 500, body: []), "pccs answered 500"),
            ("truncated body", good.tcbTarget,
             .init(headers: tcbHeaders, body: Array(good.tcbBody.prefix(good.tcbBody.count / 2)), declaredLength: good.tcbBody.count),
             "was cut off"),
            ("truncated json", good.tcbTarget, .init(headers: tcbHeaders, body: Array(good.tcbBody.prefix(good.tcbBody.count / 2))),
             "is not valid JSON"),
            ("garbage root crl", AttestationSamples.PCSAnswers.rootTarget, .init(body: Array("zz".utf8)), "CRL is neither DER"),
            ("another CA's crl", good.crlTarget,
             .init(headers: [("SGX-PCK-CRL-Issuer-Chain", FakePCCS.urlEncode(try AttestationSamples.dcapQVLSGX().pckCRLChain))],
                   body: try AttestationSamples.dcapQVLSGX().pckCRL), "but the platform CA's CRL was asked for"),
        ]
        for (name, target, response, fragment) in cases {
            var routes = good.routes
            routes[target] = response
            try await withPCCS(routes) { server, cache in
                await expectRefusal(fragment) { _ = try await verifyTDX(cache) }
                #expect(await cache.cachedCount == 0, "case \(name) left something in the cache")
                // The same cache recovers once the PCCS answers correctly.
                server.set(target, good.routes[target] ?? .init())
                let recovered = try await verifyTDX(cache)
                #expect(recovered.tcbStatus == "UpToDate", "case \(name)")
                #expect(await cache.cachedCount == 1)
            }
        }
    }

    @Test func withoutAPCCSTheErrorSaysWhatToDo() async throws {
        let cache = IntelCollateralCache(imported: [], pccs: nil)
        await expectRefusal("arca keeper collateral import DIR") { _ = try await verifyTDX(cache) }
        #expect(throws: ArcaError.self) { _ = try PCCSClient(baseURL: "ftp://pccs") }
    }
}

/// The keeper's release path with collateral from a PCCS only (nothing imported).
@Suite struct PCCSReleaseTests {
    @Test func aRealQuoteIsVerifiedThroughThePCCSInTheReleasePath() async throws {
        let answers = try AttestationSamples.goTDX()
        let server = try FakePCCS(routes: answers.routes)
        let client = try PCCSClient(baseURL: server.baseURL, timeoutSeconds: 5)
        let quote = try AttestationSamples.bytes("tdx/trustee/tdx_quote_4.dat")
        let now = try AttestationSamples.time(PCCSTests.tdxTime)
        let verifiers = KeeperCollateral.verifiers(collateral: CollateralDirectory(), pccs: client)
        let tdxVerifier = try #require(verifiers.first { $0.kind == .tdx } as? CachedCollateralDCAPVerifier)
        let direct = try await tdxVerifier.verifyFetchingCollateral(quote, at: now)
        let mrtd = try #require(direct.measurements["mrtd"])
        let outcome: Denial.Reason? = try await withStore(.sqlite) { store, _ in
            let keeper = Keeper(store: store, masterKey: try KeeperMasterKey(bytes: Array(repeating: 9, count: 32)),
                                verifiers: verifiers, clock: { now }, logger: Logger(label: "test"))
            let yaml = sessionYAML(allowed: ["tdx"]).replacingOccurrences(
                of: "allowedEvidence: [tdx]", with: "allowedEvidence: [tdx]\n  tolerate: [debug]\n  tdx: {mrtd: ['\(mrtd)']}")
            _ = try await keeper.createSession(document: yaml, client: "owner")
            let nonce = try await keeper.issueNonce(NonceRequest(session: "shop/api", service: "web"), client: nil).nonce
            let request = ReleaseRequest(session: "shop/api", service: "web", nonce: nonce, evidenceKind: "tdx",
                                         evidence: Data(quote).base64EncodedString(),
                                         ephemeralPublicKey: Hex.encode(P256.KeyAgreement.PrivateKey().publicKey.x963Representation))
            do {
                _ = try await keeper.release(request, client: nil)
                return nil
            } catch let denial as Denial {
                return denial.reason
            }
        }
        try await client.shutdown()
        server.stop()
        // Past the collateral (fetched once, by the direct verification above, then cached),
        // the TCB, debug tolerance and the MRTD pin: only the binding stops a published quote.
        #expect(outcome == .reportDataMismatch)
        #expect(server.requests.count == 4)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: CommandLineTests.binary)))
    func serveRefusesABadPCCSURL() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let status = runShell("'\(CommandLineTests.binary)' keeper serve --listen 127.0.0.1:0 --data '\(dir)/data' --pccs ftp://pccs >'\(dir)/out' 2>&1")
            #expect(status != 0)
            let out = try String(contentsOfFile: dir + "/out", encoding: .utf8)
            #expect(out.contains("pccs url ftp://pccs must start with https:// or http://"), "\(out)")
        }
    }
}
