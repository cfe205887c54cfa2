import ArcaAttestation
import ArcaCore
import FoundationEssentials
import Testing

@Suite("SEV-SNP reports")
struct SNPVerifierTests {
    static let vcekTime = TestData.time("2026-07-01T00:00:00Z")

    struct Sample: Sendable, CustomStringConvertible {
        var report: String, vek: String, time: String
        var version: String, product: String, key: String, measurement: String, debug: Bool
        var description: String { report }
    }

    static let samples: [Sample] = [
        Sample(report: "snp/go-sev-guest/attestation.bin", vek: "snp/go-sev-guest/vcek.der", time: "2026-07-01T00:00:00Z",
               version: "2", product: "Milan", key: "vcek",
               measurement: "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01", debug: true),
        Sample(report: "snp/virtee-sev/report_milan.bin", vek: "snp/virtee-sev/vcek_milan.der", time: "2026-07-01T00:00:00Z",
               version: "2", product: "Milan", key: "vcek",
               measurement: "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f", debug: false),
        Sample(report: "snp/trustee/test-report.bin", vek: "snp/trustee/test-vcek.der", time: "2026-07-01T00:00:00Z",
               version: "2", product: "Milan", key: "vcek",
               measurement: "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c", debug: false),
        Sample(report: "snp/trustee/test-vlek-report.bin", vek: "snp/trustee/test-vlek.der", time: "2025-06-01T00:00:00Z",
               version: "3", product: "Milan", key: "vlek",
               measurement: "8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0", debug: false),
        Sample(report: "snp/trustee/e2e-genoa-report-v3.bin", vek: "snp/trustee/e2e-genoa-vcek.der", time: "2026-07-01T00:00:00Z",
               version: "3", product: "Genoa", key: "vcek",
               measurement: "6a6519d757e68c2e939c9dbbbc1828498e8de35d2766dd05f1a2cca5059d0cf4ae62a36d75c837974dd50b315506e73e", debug: false),
        Sample(report: "snp/openanolis-trustee/turin-report.bin", vek: "snp/openanolis-trustee/turin-vcek.der", time: "2026-07-01T00:00:00Z",
               version: "5", product: "Turin", key: "vcek",
               measurement: "a13039badd60b0854bea169b58fd6fe1773981aefbfee98bf32d6cbe7521e5f281c1dd1fa8a44be828e6cf4804871091", debug: false),
        Sample(report: "snp/openanolis-trustee/test-vlek-report.bin", vek: "snp/openanolis-trustee/test-vlek.der", time: "2025-01-01T00:00:00Z",
               version: "2", product: "Milan", key: "vlek",
               measurement: "f1a99fc07470beb03b1330f4489520af8f0288187ffb661c71f35cab09bea19cd962d4f2d09f5a16c3c38b7da6bed244", debug: false),
    ]

    @Test("every published report verifies at its pinned time", arguments: samples)
    func verifies(_ sample: Sample) throws {
        let verifier = SNPVerifier(collateral: try TestData.amdCollateral(vek: sample.vek))
        let result = try verifier.verify(try TestData.bytes(sample.report), at: TestData.time(sample.time))
        #expect(result.kind == .snp)
        #expect(result.measurements["version"] == sample.version)
        #expect(result.measurements["product"] == sample.product)
        #expect(result.measurements["signing_key"] == sample.key)
        #expect(result.measurements["measurement"] == sample.measurement)
        #expect(result.debug == sample.debug)
        #expect(result.platform.hasSuffix(SNPCollateral.amdRootFingerprints[SNPProduct(rawValue: sample.product)!]!))
    }

    @Test func fieldValuesOfTheGoSevGuestSample() throws {
        let verifier = SNPVerifier(collateral: try TestData.amdCollateral(vek: "snp/go-sev-guest/vcek.der"))
        let result = try verifier.verify(try TestData.bytes("snp/go-sev-guest/attestation.bin"), at: Self.vcekTime)
        #expect(result.reportData == [1, 2, 3, 4, 5] + [UInt8](repeating: 0, count: 59))
        #expect(result.measurements["reported_tcb"] == "0x" + String(UInt64(4901323769462652930), radix: 16))
        #expect(result.measurements["policy"] == "0xb0000")
        #expect(result.measurements["chip_id"]?.hasPrefix("3ac3fe21e13fb099") == true)
        #expect(result.measurements["host_data"] == String(repeating: "0", count: 64))
    }

    @Test func turinTCBLayout() throws {
        let verifier = SNPVerifier(collateral: try TestData.amdCollateral(vek: "snp/openanolis-trustee/turin-vcek.der"))
        let result = try verifier.verify(try TestData.bytes("snp/openanolis-trustee/turin-report.bin"), at: Self.vcekTime)
        #expect(result.measurements["tcb_fmc"] == "1")
        #expect(result.measurements["tcb_bootloader"] == "3")
        #expect(result.measurements["tcb_tee"] == "2")
        #expect(result.measurements["tcb_snp"] == "5")
        #expect(result.measurements["tcb_microcode"] == "97")
    }

    @Test func reportWithCertificateTableNeedsNoVEKInCollateral() throws {
        let report = try TestData.bytes("snp/virtee-sev/report_milan.bin")
        let vek = try TestData.bytes("snp/virtee-sev/vcek_milan.der")
        let table = SNPTableBuilder.build([(SNPCertificateTable.vcekGUID, vek)])
        let verifier = SNPVerifier(collateral: try TestData.amdCollateral())
        let result = try verifier.verify(report + table, at: Self.vcekTime)
        #expect(result.measurements["product"] == "Milan")
    }

    @Test func flippedBitInTheBodyFails() throws {
        // virtee/sev's milan_report_invalid: bit 7 of byte 21.
        var report = try TestData.bytes("snp/virtee-sev/report_milan.bin")
        report[21] ^= 0x80
        let verifier = SNPVerifier(collateral: try TestData.amdCollateral(vek: "snp/virtee-sev/vcek_milan.der"))
        expectFailure("report signature does not verify") { _ = try verifier.verify(report, at: Self.vcekTime) }
    }

    @Test func flippedBitInTheSignatureFails() throws {
        var report = try TestData.bytes("snp/trustee/test-report.bin")
        report[0x2A0 + 5] ^= 0x01
        let verifier = SNPVerifier(collateral: try TestData.amdCollateral(vek: "snp/trustee/test-vcek.der"))
        expectFailure("report signature does not verify") { _ = try verifier.verify(report, at: Self.vcekTime) }
    }

    @Test func alteredVCEKFails() throws {
        // virtee/sev's milan_chain_invalid: XOR 0xff at DER byte 40 (inside the serial/issuer area).
        var vek = try TestData.bytes("snp/virtee-sev/vcek_milan.der")
        vek[40] ^= 0xff
        var collateral = try TestData.amdCollateral()
        do {
            collateral.add(certificates: [try VendorCertificate(der: vek)])
        } catch is ArcaError {
            return  // unparseable is a rejection too
        }
        let verifier = SNPVerifier(collateral: collateral)
        #expect(throws: ArcaError.self) { _ = try verifier.verify(try TestData.bytes("snp/virtee-sev/report_milan.bin"), at: Self.vcekTime) }
    }

    @Test func vlekReportAgainstTheVCEKChainFails() throws {
        var collateral = SNPCollateral()
        collateral.add(certificates: try TestData.certificates("roots/amd/ask_ark_milan_vcek.pem"))
        collateral.add(certificates: try TestData.certificates("snp/trustee/test-vlek.der"))
        let verifier = SNPVerifier(collateral: collateral)
        expectFailure("SEV-VLEK-Milan") {
            _ = try verifier.verify(try TestData.bytes("snp/trustee/test-vlek-report.bin"), at: TestData.time("2025-06-01T00:00:00Z"))
        }
    }

    @Test func vlekReportWithOnlyAVCEKFails() throws {
        let verifier = SNPVerifier(collateral: try TestData.amdCollateral(vek: "snp/trustee/test-vcek.der"))
        expectFailure("signed by a VLEK but no SEV-VLEK certificate") {
            _ = try verifier.verify(try TestData.bytes("snp/trustee/test-vlek-report.bin"), at: TestData.time("2025-06-01T00:00:00Z"))
        }
    }

    @Test func expiredVLEKFailsAtALaterTime() throws {
        let verifier = SNPVerifier(collateral: try TestData.amdCollateral(vek: "snp/trustee/test-vlek.der"))
        expectFailure("expired or not yet valid") {
            _ = try verifier.verify(try TestData.bytes("snp/trustee/test-vlek-report.bin"), at: TestData.time("2026-11-26T00:00:00Z"))
        }
    }

    @Test func chainEndingAtAnotherRootFails() throws {
        var pins = SNPCollateral.amdRootFingerprints
        pins[.milan] = SNPCollateral.amdRootFingerprints[.genoa]
        var collateral = try TestData.amdCollateral(vek: "snp/go-sev-guest/vcek.der")
        collateral.pinnedRoots = pins
        let verifier = SNPVerifier(collateral: collateral)
        expectFailure("which is not a pinned root") {
            _ = try verifier.verify(try TestData.bytes("snp/go-sev-guest/attestation.bin"), at: Self.vcekTime)
        }
    }

    @Test func wrongVCEKForTheChipFails() throws {
        // A valid Milan VCEK of another chip: the signature cannot verify with its key.
        let verifier = SNPVerifier(collateral: try TestData.amdCollateral(vek: "snp/trustee/test-vcek.der"))
        expectFailure("report signature does not verify") {
            _ = try verifier.verify(try TestData.bytes("snp/go-sev-guest/attestation.bin"), at: Self.vcekTime)
        }
    }

    @Test func serialNumberZeroCertificatesParse() throws {
        for path in ["snp/go-sev-guest/vcek.der", "snp/trustee/test-vlek.der", "snp/virtee-sev/vcek_turin.der"] {
            let certificate = try #require(try TestData.certificates(path).first)
            #expect(certificate.serialNumber.isEmpty, "serial 0 is stored without leading zeros")
        }
    }

    @Test func turinVCEKFromVirteeChainsToTheTurinARK() throws {
        let collateral = try TestData.amdCollateral()
        let vek = try #require(try TestData.certificates("snp/virtee-sev/vcek_turin.der").first)
        let ask = try #require(collateral.authorities.first { $0.subjectCommonName == "SEV-Turin" })
        let genoaASK = try #require(collateral.authorities.first { $0.subjectCommonName == "SEV-Genoa" })
        #expect(vek.issuerCommonName == "SEV-Turin")
        #expect(vek.isSigned(by: ask))
        #expect(!vek.isSigned(by: genoaASK))
    }
}

/// Builds a GHCB certificate table, as a host would hand it to the guest.
enum SNPTableBuilder {
    static func build(_ entries: [(String, [UInt8])]) -> [UInt8] {
        let header = (entries.count + 1) * 24
        var table: [UInt8] = []
        var payload: [UInt8] = []
        for (guid, der) in entries {
            table += guidBytes(guid)
            table += le32(header + payload.count) + le32(der.count)
            payload += der
        }
        table += [UInt8](repeating: 0, count: 24)
        return table + payload
    }

    static func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

    static func guidBytes(_ text: String) -> [UInt8] {
        let hex = Hex.decode(String(text.filter { $0 != "-" })) ?? []
        guard hex.count == 16 else { return [] }
        return [hex[3], hex[2], hex[1], hex[0], hex[5], hex[4], hex[7], hex[6]] + hex[8...]
    }
}
