import ArcaAttestation
import ArcaCore
import ArcaKeeper
import ArcaKeeperAPI
import Crypto
import Foundation
import Testing

/// A hardware-like verifier: it returns what the test tells it to, with no `arca` measurement
/// field (as SGX/TDX/SNP evidence), so the keeper must find the measurement through the binding.
struct StubHardwareVerifier: EvidenceVerifier {
    let kind = EvidenceKind.sgx
    let debug: Bool
    let tcbStatus: String?
    let advisories: [String]

    func verify(_ evidence: [UInt8], at time: Date) throws -> VerifiedEvidence {
        guard evidence.count == 64 else { throw ArcaError(.invalidFormat, "stub evidence is not 64 bytes of report data") }
        return VerifiedEvidence(kind: .sgx, reportData: evidence, measurements: ["mrenclave": "00"], debug: debug,
                                tcbStatus: tcbStatus, advisories: advisories, platform: "stub-root")
    }
}

/// Keeper policy checks without HTTP, with a pluggable hardware verifier.
@Suite struct KeeperPolicyTests {
    func withKeeperCore(_ verifier: StubHardwareVerifier, tolerate: [String] = [], sgx: String? = "{mrenclave: ['00']}",
                        _ body: @escaping @Sendable (Keeper, ManualClock, String) async throws -> Void) async throws {
        try await withStore(.sqlite) { store, _ in
            let clock = ManualClock()
            let keeper = Keeper(store: store, masterKey: try KeeperMasterKey(bytes: Array(repeating: 1, count: 32)),
                                verifiers: [verifier], clock: { clock.now() })
            var yaml = sessionYAML(allowed: ["sgx"])
            if !tolerate.isEmpty { yaml = yaml.replacingOccurrences(of: "allowedEvidence: [sgx]", with: "allowedEvidence: [sgx]\n  tolerate: [\(tolerate.joined(separator: ", "))]") }
            if let sgx { yaml = yaml.replacingOccurrences(of: "allowedEvidence: [sgx]", with: "allowedEvidence: [sgx]\n  sgx: \(sgx)") }
            _ = try await keeper.createSession(document: yaml, client: "owner")
            try await body(keeper, clock, "owner")
        }
    }

    func hardwareRequest(_ keeper: Keeper, measurement: String) async throws -> (ReleaseRequest, P256.KeyAgreement.PrivateKey) {
        let ephemeral = P256.KeyAgreement.PrivateKey()
        let nonce = try await keeper.issueNonce(NonceRequest(session: "shop/api", service: "web"), client: nil).nonce
        let reportData = try ReportDataBinding.reportData(nonce: Hex.decode(nonce) ?? [], ephemeralKey: Array(ephemeral.publicKey.x963Representation),
                                            measurement: Hex.decode(measurement) ?? [])
        return (ReleaseRequest(session: "shop/api", service: "web", nonce: nonce, evidenceKind: "sgx",
                               evidence: Data(reportData).base64EncodedString(),
                               ephemeralPublicKey: Hex.encode(ephemeral.publicKey.x963Representation)), ephemeral)
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

    @Test func hardwareEvidenceIsMatchedThroughTheBinding() async throws {
        try await withKeeperCore(StubHardwareVerifier(debug: false, tcbStatus: "UpToDate", advisories: [])) { keeper, _, _ in
            let (request, ephemeral) = try await hardwareRequest(keeper, measurement: measurementA)
            let response = try await keeper.release(request, client: nil)
            #expect(response.evidenceKind == "sgx")
            let plaintext = try ReleaseEnvelope.open(Array(Data(base64Encoded: response.ciphertext) ?? Data()),
                                                     keeperPublicKey: Hex.decode(response.keeperPublicKey) ?? [],
                                                     privateKey: ephemeral, nonce: Hex.decode(request.nonce) ?? [])
            #expect(try JSONDecoder().decode(ReleasePayload.self, from: Data(plaintext)).keys == ["app": shieldKey])
            let (wrong, _) = try await hardwareRequest(keeper, measurement: measurementB)
            await expectDenial(.reportDataMismatch) { _ = try await keeper.release(wrong, client: nil) }
            // sim is not allowed by this session.
            let (simRequest, _) = try await hardwareRequest(keeper, measurement: measurementA)
            var sim = simRequest
            sim.evidenceKind = "sim"
            await expectDenial(.evidenceKindNotAllowed) { _ = try await keeper.release(sim, client: nil) }
        }
    }

    @Test func debugAndOutdatedPlatformsAreDeniedUnlessTolerated() async throws {
        try await withKeeperCore(StubHardwareVerifier(debug: true, tcbStatus: "UpToDate", advisories: [])) { keeper, _, _ in
            let (request, _) = try await hardwareRequest(keeper, measurement: measurementA)
            await expectDenial(.debugNotTolerated) { _ = try await keeper.release(request, client: nil) }
        }
        try await withKeeperCore(StubHardwareVerifier(debug: false, tcbStatus: "OutOfDate", advisories: ["INTEL-SA-00615"])) { keeper, _, _ in
            let (request, _) = try await hardwareRequest(keeper, measurement: measurementA)
            await expectDenial(.tcbNotTolerated) { _ = try await keeper.release(request, client: nil) }
        }
        try await withKeeperCore(StubHardwareVerifier(debug: false, tcbStatus: "OutOfDate", advisories: ["INTEL-SA-00615"]),
                                 tolerate: ["OutOfDate", "INTEL-SA-00615"]) { keeper, _, _ in
            let (request, _) = try await hardwareRequest(keeper, measurement: measurementA)
            _ = try await keeper.release(request, client: nil)
        }
    }

    @Test func hardwareEvidenceMustMatchTheSessionsPinsForItsKind() async throws {
        let verifier = StubHardwareVerifier(debug: false, tcbStatus: "UpToDate", advisories: [])
        try await withKeeperCore(verifier, sgx: nil) { keeper, _, _ in
            let (request, _) = try await hardwareRequest(keeper, measurement: measurementA)
            await expectDenial(.hardwarePolicyRejected) { _ = try await keeper.release(request, client: nil) }
        }
        try await withKeeperCore(verifier, sgx: "{mrenclave: ['ff']}") { keeper, _, _ in
            let (request, _) = try await hardwareRequest(keeper, measurement: measurementA)
            await expectDenial(.hardwarePolicyRejected) { _ = try await keeper.release(request, client: nil) }
        }
    }

    @Test func anExpiredLeaseLetsAnotherWriterIn() async throws {
        try await withKeeperCore(StubHardwareVerifier(debug: false, tcbStatus: nil, advisories: [])) { keeper, clock, owner in
            _ = try await keeper.anchor("lease", AnchorRequest(session: "shop/api", volume: "data", holder: "a", leaseSeconds: 10), client: owner)
            await expectDenial(.anchorConflict) {
                _ = try await keeper.anchor("lease", AnchorRequest(session: "shop/api", volume: "data", holder: "b", leaseSeconds: 10), client: owner)
            }
            clock.advance(11)
            let state = try await keeper.anchor("lease", AnchorRequest(session: "shop/api", volume: "data", holder: "b", leaseSeconds: 10), client: owner)
            #expect(state.leaseHolder == "b")
            // The old holder can no longer write an intent.
            await expectDenial(.anchorConflict) {
                _ = try await keeper.anchor("intent", AnchorRequest(session: "shop/api", volume: "data", holder: "a",
                                                                    expectedVersion: 0, rootHash: String(repeating: "11", count: 32)), client: owner)
            }
            await expectDenial(.notFound) {
                _ = try await keeper.anchor("get", AnchorRequest(session: "shop/api", volume: "nope"), client: owner)
            }
        }
    }
}
