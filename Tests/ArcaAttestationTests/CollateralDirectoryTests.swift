import ArcaAttestation
import ArcaCore
import ArcaTestSupport
import FoundationEssentials
import Testing

@Suite("Collateral directory")
struct CollateralDirectoryTests {
    /// Lays out the samples the way `CollateralDirectory` documents.
    static func layout(_ base: String) throws {
        try FileSystem.makeDirectories(base + "/intel/tdx-50806f")
        try FileSystem.makeDirectories(base + "/amd")
        try FileSystem.writeAtomically(try TestData.bytes("sgx/dcap-qvl/sgx_quote_collateral.json"), to: base + "/intel/sgx.json")
        let pcs: [(String, String)] = [
            ("tdx/go-tdx-guest/sample_tcbInfo_response", "tcb_info.json"),
            ("tdx/go-tdx-guest/tcbinfo_issuer_chain.pem", "tcb_info_issuer_chain.pem"),
            ("tdx/go-tdx-guest/sample_qeIdentity_response", "qe_identity.json"),
            ("tdx/go-tdx-guest/pckcrl", "pck_crl.der"),
            ("tdx/go-tdx-guest/pckcrl_issuer_chain.pem", "pck_crl_issuer_chain.pem"),
            ("tdx/go-tdx-guest/rootcrl.der", "root_ca_crl.der"),
        ]
        for (source, name) in pcs {
            try FileSystem.writeAtomically(try TestData.bytes(source), to: base + "/intel/tdx-50806f/" + name)
        }
        try FileSystem.writeAtomically(try TestData.bytes("roots/amd/ask_ark_milan_vcek.pem"), to: base + "/amd/milan.pem")
        try FileSystem.writeAtomically(try TestData.bytes("snp/trustee/test-vcek.der"), to: base + "/amd/vcek.der")
    }

    @Test func loadsAndVerifiesEveryKind() async throws {
        try await Fixture.withTemporaryDirectory { base in
            try Self.layout(base)
            let collateral = try CollateralDirectory.load(base)
            #expect(collateral.intel.count == 2)
            #expect(Set(try collateral.intel.map { try $0.fmspc() }) == ["00a067110000", "50806f000000"])
            let sgx = try DCAPVerifier(kind: .sgx, collateral: collateral.intel)
                .verify(try TestData.bytes("sgx/dcap-qvl/sgx_quote.dat"), at: TestData.time("2025-07-01T00:00:00Z"))
            #expect(sgx.tcbStatus == "ConfigurationAndSWHardeningNeeded")
            let tdx = try DCAPVerifier(kind: .tdx, collateral: collateral.intel)
                .verify(try TestData.bytes("tdx/trustee/tdx_quote_4.dat"), at: TestData.time("2023-07-01T01:00:00Z"))
            #expect(tdx.tcbStatus == "UpToDate")
            let snp = try SNPVerifier(collateral: collateral.snp)
                .verify(try TestData.bytes("snp/trustee/test-report.bin"), at: TestData.time("2026-07-01T00:00:00Z"))
            #expect(snp.measurements["guest_svn"] == "4")
        }
    }

    @Test func reportsWhichFileIsBroken() async throws {
        try await Fixture.withTemporaryDirectory { base in
            try Self.layout(base)
            try FileSystem.writeAtomically(Array("{\"tcbInfo\": 1".utf8), to: base + "/intel/tdx-50806f/tcb_info.json")
            expectFailure("intel/tdx-50806f") { _ = try CollateralDirectory.load(base) }
            expectFailure("does not exist") { _ = try CollateralDirectory.load(base + "/nope") }
            try FileSystem.makeDirectories(base + "/empty")
            expectFailure("has no intel/ or amd/ collateral") { _ = try CollateralDirectory.load(base + "/empty") }
        }
    }
}
