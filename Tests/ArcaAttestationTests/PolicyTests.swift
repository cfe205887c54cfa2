import ArcaAttestation
import ArcaCore
import FoundationEssentials
import Testing

@Suite("Evidence policy and report-data binding")
struct PolicyTests {
    static func sgxEvidence() throws -> VerifiedEvidence {
        try DCAPVerifier(kind: .sgx, collateral: [try TestData.qvlCollateral("sgx/dcap-qvl/sgx_quote_collateral.json")])
            .verify(try TestData.bytes("sgx/dcap-qvl/sgx_quote.dat"), at: TestData.time("2025-07-01T00:00:00Z"))
    }

    static let sgxPolicy = EvidencePolicy(
        acceptedTCBStatuses: ["UpToDate", "ConfigurationAndSWHardeningNeeded"],
        toleratedAdvisories: ["INTEL-SA-00289", "INTEL-SA-00615"],
        sgx: .init(mrenclave: ["33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"]))

    @Test func sgxAcceptedWithTolerances() throws {
        try Self.sgxPolicy.check(try Self.sgxEvidence())
    }

    @Test func sgxRefusedForItsTCBStatus() throws {
        var policy = Self.sgxPolicy
        policy.acceptedTCBStatuses = ["UpToDate"]
        let evidence = try Self.sgxEvidence()
        expectFailure("TCB status ConfigurationAndSWHardeningNeeded is not accepted") { try policy.check(evidence) }
    }

    @Test func sgxRefusedForAnAdvisory() throws {
        var policy = Self.sgxPolicy
        policy.toleratedAdvisories = ["INTEL-SA-00289"]
        let evidence = try Self.sgxEvidence()
        expectFailure("advisory INTEL-SA-00615") { try policy.check(evidence) }
    }

    @Test func sgxRefusedForAnotherEnclave() throws {
        var policy = Self.sgxPolicy
        policy.sgx = .init(mrsigner: String(repeating: "00", count: 32), isvprodid: 0)
        let evidence = try Self.sgxEvidence()
        expectFailure("MRSIGNER") { try policy.check(evidence) }
        policy.sgx = .init(mrsigner: "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6", isvprodid: 0, minimumISVSVN: 1)
        expectFailure("ISVSVN 0 is below the policy's minimum 1") { try policy.check(evidence) }
    }

    @Test func debugEnclaveRefused() throws {
        let evidence = try DCAPVerifier(kind: .sgx, collateral: [], requireCollateral: false)
            .verify(try TestData.bytes("sgx/trustee/occlum_quote.dat"), at: TestData.time("2026-07-01T00:00:00Z"))
        let policy = EvidencePolicy(sgx: .init(mrenclave: [evidence.measurements["mrenclave"]!]))
        expectFailure("debug") { try policy.check(evidence) }
        var allowing = policy
        allowing.allowDebug = true
        expectFailure("no TCB status") { try allowing.check(evidence) }
    }

    @Test func debugTDRefused() throws {
        let evidence = try DCAPVerifier(kind: .tdx, collateral: [try TestData.goTDXCollateral()])
            .verify(try TestData.bytes("tdx/trustee/tdx_quote_4.dat"), at: TestData.time("2023-07-01T01:00:00Z"))
        let policy = EvidencePolicy(tdx: .init(mrtd: [evidence.measurements["mrtd"]!]))
        expectFailure("debug") { try policy.check(evidence) }
        var allowing = policy
        allowing.allowDebug = true
        try allowing.check(evidence)
        allowing.tdx?.rtmr = ["rtmr2": String(repeating: "11", count: 48)]
        expectFailure("RTMR2") { try allowing.check(evidence) }
    }

    @Test func tdxAcceptedAndMRTDChecked() throws {
        let evidence = try DCAPVerifier(kind: .tdx, collateral: [try TestData.qvlCollateral("tdx/dcap-qvl/tdx_quote_collateral.json")])
            .verify(try TestData.bytes("tdx/dcap-qvl/tdx_quote.dat"), at: TestData.time("2025-07-01T00:00:00Z"))
        var policy = EvidencePolicy(tdx: .init(mrtd: [evidence.measurements["mrtd"]!], rtmr: ["rtmr0": evidence.measurements["rtmr0"]!]))
        try policy.check(evidence)
        policy.tdx?.rtmr = ["rtmr7": ""]
        expectFailure("RTMRs are rtmr0") { try policy.check(evidence) }
        policy.tdx?.rtmr = nil
        policy.tdx?.mrtd = [String(repeating: "00", count: 48)]
        expectFailure("MRTD") { try policy.check(evidence) }
    }

    @Test func debugSNPGuestRefused() throws {
        let evidence = try SNPVerifier(collateral: try TestData.amdCollateral(vek: "snp/go-sev-guest/vcek.der"))
            .verify(try TestData.bytes("snp/go-sev-guest/attestation.bin"), at: TestData.time("2026-07-01T00:00:00Z"))
        let policy = EvidencePolicy(snp: .init(measurement: [evidence.measurements["measurement"]!]))
        expectFailure("debug guest") { try policy.check(evidence) }
    }

    @Test func snpPolicyFields() throws {
        let evidence = try SNPVerifier(collateral: try TestData.amdCollateral(vek: "snp/trustee/test-vlek.der"))
            .verify(try TestData.bytes("snp/trustee/test-vlek-report.bin"), at: TestData.time("2025-06-01T00:00:00Z"))
        var policy = EvidencePolicy(snp: .init(measurement: [evidence.measurements["measurement"]!], vmpl: 1,
                                               minimumTCB: ["bootloader": 4, "snp": 24, "microcode": 217]))
        try policy.check(evidence)
        policy.snp?.vmpl = 0
        expectFailure("VMPL 1") { try policy.check(evidence) }
        policy.snp?.vmpl = 1
        policy.snp?.minimumTCB = ["microcode": 218]
        expectFailure("microcode 217 is below") { try policy.check(evidence) }
        policy.snp?.minimumTCB = nil
        policy.snp?.signingKeys = ["vcek"]
        expectFailure("signed by a VLEK") { try policy.check(evidence) }
        policy.snp?.signingKeys = ["vlek"]
        policy.snp?.forbiddenPolicyBits = 1 << 16  // SMT allowed
        expectFailure("sets bits the policy forbids") { try policy.check(evidence) }
    }

    @Test func policyRoundTripsThroughJSON() throws {
        let policy = EvidencePolicy(allowDebug: false, acceptedTCBStatuses: ["UpToDate", "SWHardeningNeeded"], toleratedAdvisories: ["INTEL-SA-00615"],
                                    sgx: .init(mrsigner: "ab", isvprodid: 1, minimumISVSVN: 2),
                                    tdx: .init(mrtd: ["cd"], rtmr: ["rtmr1": "ef"]),
                                    snp: .init(measurement: ["01"], forbiddenPolicyBits: 1 << 18, vmpl: 0, minimumTCB: ["snp": 8]))
        let decoded = try JSONDecoder().decode(EvidencePolicy.self, from: try JSONEncoder().encode(policy))
        #expect(decoded == policy)
    }

    @Test func bindingGoldenVector() throws {
        // Cross-checked with Python hashlib.sha512 over the same encoding.
        let data = try ReportDataBinding.reportData(nonce: Array(0..<32), ephemeralKey: [4] + [UInt8](repeating: 0, count: 64),
                                                    measurement: [UInt8](repeating: 0xaa, count: 32))
        #expect(Hex.encode(data) == "0cbde1bf04e3575331c77e3257b987d3332695fbe7b5b24a2e36fc5d5a8c66aaddc3d6adf318d3cb0affd70ae35e2ac029801271a5e9fdbacb31c3065254d4f6")
    }

    @Test func bindingFieldsAreNotInterchangeable() throws {
        let a = try ReportDataBinding.reportData(nonce: [1, 2], ephemeralKey: [3], measurement: [4])
        let b = try ReportDataBinding.reportData(nonce: [1], ephemeralKey: [2, 3], measurement: [4])
        #expect(a != b)
        expectFailure("over the 65535-byte limit") {
            _ = try ReportDataBinding.reportData(nonce: [UInt8](repeating: 0, count: 70_000), ephemeralKey: [], measurement: [])
        }
    }

    @Test func reportDataNotMatchingTheNonceAndKeyIsRefused() throws {
        let evidence = try Self.sgxEvidence()
        expectFailure("does not bind this nonce") {
            try ReportDataBinding.check(evidence, nonce: [1, 2, 3], ephemeralKey: [4], measurement: [5])
        }
        var bound = evidence
        bound.reportData = try ReportDataBinding.reportData(nonce: [1, 2, 3], ephemeralKey: [4], measurement: [5])
        try ReportDataBinding.check(bound, nonce: [1, 2, 3], ephemeralKey: [4], measurement: [5])
        expectFailure("does not bind") { try ReportDataBinding.check(bound, nonce: [1, 2, 4], ephemeralKey: [4], measurement: [5]) }
    }
}
