import ArcaAttestation
import ArcaCore
import ArcaKeeper
import ArcaKeeperAPI
import ArcaTestSupport
import Crypto
import Foundation
import Logging
import Testing

/// Real SGX, TDX and SNP samples through the keeper's release path, with collateral imported by
/// `KeeperCollateral.importDirectory` (what `arca keeper collateral import` runs) and the keeper's
/// clock pinned to the sample's time. The samples' report data cannot bind a keeper nonce, so
/// the furthest a real quote can get is the binding check: every platform check before it passes.
@Suite struct HardwareReleaseTests {
    struct Sample {
        var kind: String
        var path: String
        var time: String
    }
    static let sgx = Sample(kind: "sgx", path: "sgx/dcap-qvl/sgx_quote.dat", time: "2025-07-01T00:00:00Z")
    static let tdx = Sample(kind: "tdx", path: "tdx/trustee/tdx_quote_4.dat", time: "2023-07-01T01:00:00Z")
    static let snp = Sample(kind: "snp", path: "snp/trustee/test-report.bin", time: "2026-07-01T00:00:00Z")

    /// Imports the sample collateral into a data directory, starts a keeper core on it with its
    /// clock at `sample.time` (or `at`), registers a session whose security section is
    /// `security(verified)` — built from what a direct verification of the sample found — and
    /// sends the sample through `release`.
    func release(_ sample: Sample, at: String? = nil,
                 security: @escaping @Sendable (VerifiedEvidence) -> String) async throws -> Result<ReleaseResponse, Denial> {
        try await Fixture.withTemporaryDirectory { dir in
            try AttestationSamples.layoutCollateral(dir + "/source")
            _ = try KeeperCollateral.importDirectory(dir + "/source", data: dir + "/data")
            let collateral = try KeeperCollateral.load(data: dir + "/data")
            let verifiers = KeeperCollateral.verifiers(collateral: collateral, pccs: nil)
            let evidence = try AttestationSamples.bytes(sample.path)
            let sampleTime = try AttestationSamples.time(sample.time)
            let verifier = try #require(verifiers.first { $0.kind.rawValue == sample.kind })
            let direct = try verifier.verify(evidence, at: sampleTime)
            let now = try AttestationSamples.time(at ?? sample.time)
            return try await withStore(.sqlite) { store, _ in
                let keeper = Keeper(store: store, masterKey: try KeeperMasterKey(bytes: Array(repeating: 7, count: 32)),
                                    verifiers: verifiers, clock: { now }, logger: Logger(label: "test"))
                let yaml = sessionYAML(allowed: [sample.kind]).replacingOccurrences(
                    of: "allowedEvidence: [\(sample.kind)]", with: "allowedEvidence: [\(sample.kind)]\n" + security(direct))
                _ = try await keeper.createSession(document: yaml, client: "owner")
                let nonce = try await keeper.issueNonce(NonceRequest(session: "shop/api", service: "web"), client: nil).nonce
                let request = ReleaseRequest(session: "shop/api", service: "web", nonce: nonce, evidenceKind: sample.kind,
                                             evidence: Data(evidence).base64EncodedString(),
                                             ephemeralPublicKey: Hex.encode(P256.KeyAgreement.PrivateKey().publicKey.x963Representation))
                do {
                    return .success(try await keeper.release(request, client: nil))
                } catch let denial as Denial {
                    return .failure(denial)
                }
            }
        }
    }

    func expectDenial(_ result: Result<ReleaseResponse, Denial>, _ reason: Denial.Reason, _ fragment: String = "",
                      sourceLocation: SourceLocation = #_sourceLocation) {
        switch result {
        case .success: Issue.record("a real sample was released", sourceLocation: sourceLocation)
        case .failure(let denial):
            #expect(denial.reason == reason, "\(denial.reason.rawValue): \(denial.message)", sourceLocation: sourceLocation)
            #expect(fragment.isEmpty || denial.message.contains(fragment), "\(denial.message)", sourceLocation: sourceLocation)
        }
    }

    static let sgxTolerance = "  tolerate: [ConfigurationAndSWHardeningNeeded, INTEL-SA-00289, INTEL-SA-00615]\n"

    @Test func sgxQuoteGetsAsFarAsTheBinding() async throws {
        let pinned = try await release(Self.sgx) { v in
            Self.sgxTolerance + "  sgx: {mrenclave: ['\(v.measurements["mrenclave"] ?? "")']}"
        }
        expectDenial(pinned, .reportDataMismatch, "binds none of the measurements")
        // Without the TCB tolerances the platform is refused first, with the status it has.
        let untolerated = try await release(Self.sgx) { v in "  sgx: {mrenclave: ['\(v.measurements["mrenclave"] ?? "")']}" }
        expectDenial(untolerated, .tcbNotTolerated, "ConfigurationAndSWHardeningNeeded")
        let wrongEnclave = try await release(Self.sgx) { _ in Self.sgxTolerance + "  sgx: {mrenclave: ['\(String(repeating: "ab", count: 32))']}" }
        expectDenial(wrongEnclave, .hardwarePolicyRejected, "MRENCLAVE")
        // The imported collateral is stale at a later time: the evidence itself is refused.
        let stale = try await release(Self.sgx, at: "2026-11-26T00:00:00Z") { v in
            Self.sgxTolerance + "  sgx: {mrenclave: ['\(v.measurements["mrenclave"] ?? "")']}"
        }
        expectDenial(stale, .evidenceInvalid, "not current")
    }

    @Test func debugTDQuoteIsRefusedThenGetsAsFarAsTheBinding() async throws {
        let refused = try await release(Self.tdx) { v in "  tdx: {mrtd: ['\(v.measurements["mrtd"] ?? "")']}" }
        expectDenial(refused, .debugNotTolerated)
        let tolerated = try await release(Self.tdx) { v in "  tolerate: [debug]\n  tdx: {mrtd: ['\(v.measurements["mrtd"] ?? "")']}" }
        expectDenial(tolerated, .reportDataMismatch)
    }

    @Test func snpReportGetsAsFarAsTheBinding() async throws {
        let result = try await release(Self.snp) { v in
            (v.debug ? "  tolerate: [debug]\n" : "") + "  snp: {measurement: ['\(v.measurements["measurement"] ?? "")']}"
        }
        expectDenial(result, .reportDataMismatch)
        let wrong = try await release(Self.snp) { v in
            (v.debug ? "  tolerate: [debug]\n" : "") + "  snp: {measurement: ['\(String(repeating: "cd", count: 48))']}"
        }
        expectDenial(wrong, .hardwarePolicyRejected, "MEASUREMENT")
    }

    @Test func importStoresNormalisedCollateral() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            try AttestationSamples.layoutCollateral(dir + "/source")
            let summary = try KeeperCollateral.importDirectory(dir + "/source", data: dir + "/data")
            #expect(summary.intel.sorted() == ["intel/sgx-00a067110000-processor.json", "intel/tdx-50806f000000-platform.json"])
            #expect(summary.amd.count == 3)  // ASK-Milan, ARK-Milan, the trustee VCEK
            let loaded = try KeeperCollateral.load(data: dir + "/data")
            #expect(Set(try loaded.intel.map { try $0.fmspc() }) == ["00a067110000", "50806f000000"])
            #expect(loaded.snp.endorsementKeys.count == 1)
            // Importing twice replaces, it does not pile up.
            _ = try KeeperCollateral.importDirectory(dir + "/source", data: dir + "/data")
            #expect(try FileSystem.listDirectory(KeeperCollateral.directory(data: dir + "/data") + "/intel").count == 2)
            // A data directory without imports loads as empty; with --collateral it adds that one.
            #expect(try KeeperCollateral.load(data: dir + "/empty").intel.isEmpty)
            #expect(try KeeperCollateral.load(data: dir + "/empty", extra: dir + "/source").intel.count == 2)
        }
    }

    @Test func aBadFileIsRefusedByNameAndNothingIsImported() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            try AttestationSamples.layoutCollateral(dir + "/source")
            let path = dir + "/source/intel/tdx-50806f/tcb_info.json"
            let tampered = String(decoding: try FileSystem.readFile(path, limit: 1 << 20), as: UTF8.self)
                .replacingOccurrences(of: "\"tcbStatus\":\"UpToDate\"", with: "\"tcbStatus\":\"UpToDatE\"")
            try FileSystem.writeAtomically(Array(tampered.utf8), to: path)
            do {
                _ = try KeeperCollateral.importDirectory(dir + "/source", data: dir + "/data")
                Issue.record("tampered collateral was imported")
            } catch let error as ArcaError {
                #expect(error.message.contains("intel/tdx-50806f"), "\(error.message)")
                #expect(error.message.contains("TCB Info signature does not verify"), "\(error.message)")
            }
            #expect(!FileSystem.exists(KeeperCollateral.directory(data: dir + "/data")))
            // A broken AMD file is named too.
            try AttestationSamples.layoutCollateral(dir + "/source2")
            try FileSystem.writeAtomically(Array("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".utf8), to: dir + "/source2/amd/bad.pem")
            #expect(throws: ArcaError.self) { _ = try KeeperCollateral.importDirectory(dir + "/source2", data: dir + "/data") }
            do { _ = try KeeperCollateral.importDirectory(dir + "/source2", data: dir + "/data") } catch let error as ArcaError {
                #expect(error.message.contains("amd/bad.pem"), "\(error.message)")
            }
        }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: CommandLineTests.binary)))
    func importCommandRunsOffline() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            try AttestationSamples.layoutCollateral(dir + "/source")
            let arca = CommandLineTests.binary
            #expect(runShell("'\(arca)' keeper collateral import '\(dir)/source' --data '\(dir)/data' >'\(dir)/out' 2>&1") == 0)
            let out = try String(contentsOfFile: dir + "/out", encoding: .utf8)
            #expect(out.contains("2 intel collateral set(s), 3 amd certificate(s)"), "\(out)")
            try FileSystem.writeAtomically(Array("{}".utf8), to: dir + "/source/intel/sgx.json")
            #expect(runShell("'\(arca)' keeper collateral import '\(dir)/source' --data '\(dir)/data2' >'\(dir)/out2' 2>&1") != 0)
            let refused = try String(contentsOfFile: dir + "/out2", encoding: .utf8)
            #expect(refused.contains("intel/sgx.json"), "\(refused)")
        }
    }
}
