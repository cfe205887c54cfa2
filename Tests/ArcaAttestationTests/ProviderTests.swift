import ArcaAttestation
import ArcaCore
import ArcaTestSupport
import FoundationEssentials
import Testing

@Suite("Runtime evidence providers")
struct ProviderTests {
    static let reportData = [UInt8](repeating: 0x5a, count: 64)

    /// A fake configfs-tsm entry as the kernel would show it after mkdir.
    static func fakeTSM(_ base: String, provider: String, outblob: [UInt8], auxblob: [UInt8]? = nil, generation: String = "1") throws -> String {
        let root = base + "/sys/kernel/config/tsm/report"
        let entry = root + "/arca-test"
        try FileSystem.makeDirectories(entry)
        try FileSystem.writeAtomically(Array((provider + "\n").utf8), to: entry + "/provider")
        try FileSystem.writeAtomically(outblob, to: entry + "/outblob")
        try FileSystem.writeAtomically(Array((generation + "\n").utf8), to: entry + "/generation")
        if let auxblob { try FileSystem.writeAtomically(auxblob, to: entry + "/auxblob") }
        return root
    }

    @Test func tsmTDXReturnsTheQuoteAndWritesTheReportData() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let quote = try TestData.bytes("tdx/dcap-qvl/tdx_quote.dat")
            let root = try Self.fakeTSM(base, provider: "tdx_guest", outblob: quote)
            let provider = ConfigFSTSMProvider(root: root, entryName: "arca-test")
            #expect(try provider.kind() == .tdx)
            let evidence = try provider.evidence(reportData: Self.reportData)
            #expect(evidence == quote)
            // The fake entry holds regular files, so rmdir leaves it and inblob can be read back.
            #expect(try FileSystem.readFile(root + "/arca-test/inblob", limit: 100) == Self.reportData)
        }
    }

    @Test func tsmSNPAppendsTheCertificateTable() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let report = try TestData.bytes("snp/virtee-sev/report_milan.bin")
            let table = SNPTableBuilder.build([(SNPCertificateTable.vcekGUID, try TestData.bytes("snp/virtee-sev/vcek_milan.der"))])
            let root = try Self.fakeTSM(base, provider: "sev_guest", outblob: report, auxblob: table)
            let provider = ConfigFSTSMProvider(root: root, entryName: "arca-test")
            #expect(try provider.kind() == .snp)
            let evidence = try provider.evidence(reportData: Self.reportData)
            #expect(evidence == report + table)
            // What the provider returns is what the SNP verifier takes.
            let verified = try SNPVerifier(collateral: try TestData.amdCollateral()).verify(evidence, at: TestData.time("2026-07-01T00:00:00Z"))
            #expect(verified.measurements["product"] == "Milan")
        }
    }

    @Test func tsmRejectsBadInput() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let root = try Self.fakeTSM(base, provider: "tdx_guest", outblob: [1, 2, 3], generation: "x")
            let provider = ConfigFSTSMProvider(root: root, entryName: "arca-test")
            expectFailure("exactly 64 bytes") { _ = try provider.evidence(reportData: [1, 2]) }
            expectFailure("not a number") { _ = try provider.evidence(reportData: Self.reportData) }
            let other = try Self.fakeTSM(base + "/b", provider: "arm_cca", outblob: [1])
            expectFailure("not sev_guest or tdx_guest") { _ = try ConfigFSTSMProvider(root: other, entryName: "arca-test").kind() }
            expectFailure("configfs-tsm is not available") {
                _ = try ConfigFSTSMProvider(root: base + "/missing").evidence(reportData: Self.reportData)
            }
        }
    }

    @Test func tsmRemovesItsEntry() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let root = base + "/tsm"
            try FileSystem.makeDirectories(root)
            // A real kernel would populate the entry; an empty fake fails, and the entry is gone afterwards.
            #expect(throws: ArcaError.self) { _ = try ConfigFSTSMProvider(root: root, entryName: "e1").evidence(reportData: Self.reportData) }
            #expect(!FileSystem.exists(root + "/e1"))
        }
    }

    @Test func gramineWritesUserReportDataAndReadsTheQuote() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let root = base + "/dev/attestation"
            try FileSystem.makeDirectories(root)
            let quote = try TestData.bytes("sgx/dcap-qvl/sgx_quote.dat")
            try FileSystem.writeAtomically(quote, to: root + "/quote")
            try FileSystem.writeAtomically(Array("dcap\n".utf8), to: root + "/attestation_type")
            let provider = GramineProvider(root: root)
            #expect(try provider.evidence(reportData: Self.reportData) == quote)
            #expect(try FileSystem.readFile(root + "/user_report_data", limit: 100) == Self.reportData)
            try FileSystem.writeAtomically(Array("epid".utf8), to: root + "/attestation_type")
            expectFailure("needs 'dcap'") { _ = try provider.evidence(reportData: Self.reportData) }
            expectFailure("does not exist") { _ = try GramineProvider(root: base + "/none").evidence(reportData: Self.reportData) }
        }
    }

    @Test func selection() async throws {
        try await Fixture.withTemporaryDirectory { base in
            // Nothing present: auto falls back to sim only when allowed.
            #expect(try EvidenceSelection.select(mode: "auto", systemRoot: base, allowSim: true) == .sim)
            expectFailure("sim evidence is not allowed") { _ = try EvidenceSelection.select(mode: nil, systemRoot: base, allowSim: false) }
            expectFailure("is refused") { _ = try EvidenceSelection.select(mode: "sim", systemRoot: base, allowSim: false) }
            expectFailure("ARCA_EVIDENCE=tsm") { _ = try EvidenceSelection.select(mode: "tsm", systemRoot: base, allowSim: true) }
            expectFailure("not one of auto, sim, tsm, gramine") { _ = try EvidenceSelection.select(mode: "tpm", systemRoot: base, allowSim: true) }

            try FileSystem.makeDirectories(base + "/sys/kernel/config/tsm/report")
            #expect(try EvidenceSelection.select(mode: "auto", systemRoot: base, allowSim: false) == .tsm(root: base + "/sys/kernel/config/tsm/report"))
            #expect(try EvidenceSelection.select(mode: "sim", systemRoot: base, allowSim: true) == .sim)

            try FileSystem.makeDirectories(base + "/dev/attestation")
            try FileSystem.writeAtomically([], to: base + "/dev/attestation/quote")
            #expect(try EvidenceSelection.select(mode: "auto", systemRoot: base, allowSim: false) == .gramine(root: base + "/dev/attestation"))
            #expect(try EvidenceSelection.select(mode: "TSM", systemRoot: base, allowSim: false) == .tsm(root: base + "/sys/kernel/config/tsm/report"))
            #expect(EvidenceSelection.sim.hardwareProvider() == nil)
        }
    }
}
