import ArcaAttestation
import ArcaCore
import FoundationEssentials
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A time-bounded fuzz run of every evidence parser over the real samples: stacked random
/// mutations (bit flips, random runs, length-like fields set to huge values, truncation,
/// duplicated and dropped ranges). The only acceptable outcomes are a result or an `ArcaError`;
/// a crash ends the process, a foreign error type fails the test. Opt-in: `bench/fuzz-evidence.sh`
/// sets `ARCA_FUZZ_SECONDS` (per parser) and `ARCA_FUZZ_SEED`.
@Suite("Evidence fuzz run (bench/fuzz-evidence.sh)")
struct EvidenceFuzzTests {
    static let seconds = Double(environmentValue("ARCA_FUZZ_SECONDS") ?? "")
    static let seed = UInt64(environmentValue("ARCA_FUZZ_SEED") ?? "") ?? UInt64(time(nil))

    /// Values a length or offset field is set to.
    static let hugeValues: [[UInt8]] = [[0xff, 0xff, 0xff, 0xff], [0xff, 0xff, 0xff, 0x7f], [0x00, 0x00, 0x00, 0x80],
                                        [0xff, 0xff], [0x00, 0x00, 0x00, 0x00], [0x01, 0x00, 0x00, 0x00]]

    static func mutate(_ input: [UInt8], _ rng: inout MalformedInputTests.Generator) -> [UInt8] {
        var m = input
        for _ in 0..<Int.random(in: 1...4, using: &rng) where !m.isEmpty {
            let at = Int.random(in: 0..<m.count, using: &rng)
            switch Int.random(in: 0..<7, using: &rng) {
            case 0, 1: m[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
            case 2:
                for j in at..<min(m.count, at + Int.random(in: 1...32, using: &rng)) { m[j] = UInt8.random(in: 0...255, using: &rng) }
            case 3:
                let value = hugeValues[Int.random(in: 0..<hugeValues.count, using: &rng)]
                for (k, byte) in value.enumerated() where at + k < m.count { m[at + k] = byte }
            case 4: m = Array(m.prefix(at))
            case 5:
                let length = Int.random(in: 1...64, using: &rng)
                m.insert(contentsOf: m[at..<min(m.count, at + length)], at: at)
            default: m.removeSubrange(at..<min(m.count, at + Int.random(in: 1...64, using: &rng)))
            }
        }
        return m
    }

    /// Feeds mutations of the inputs to `parse` until the time is up; prints and returns the count.
    static func run(_ name: String, inputs: [[UInt8]], seed offset: UInt64, _ parse: ([UInt8]) throws -> Void) -> Int {
        guard let seconds else { return 0 }
        var rng = MalformedInputTests.Generator(state: seed &+ offset)
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        var count = 0, accepted = 0, foreign = 0
        while ContinuousClock.now < deadline {
            for _ in 0..<64 {
                let input = inputs[count % inputs.count]
                let mutated = mutate(input, &rng)
                do { try parse(mutated); accepted += 1 } catch is ArcaError {} catch {
                    foreign += 1
                    Issue.record("\(name): non-ArcaError \(type(of: error)): \(error) (seed \(seed), input \(count))")
                }
                count += 1
            }
        }
        print("fuzz \(name): \(count) inputs, \(accepted) accepted, \(count - accepted - foreign) ArcaErrors, \(foreign) other errors (seed \(seed))")
        return count
    }

    @Test(.enabled(if: seconds != nil)) func dcapQuotes() throws {
        let sgx = DCAPVerifier(kind: .sgx, collateral: [try TestData.qvlCollateral("sgx/dcap-qvl/sgx_quote_collateral.json")])
        let tdx = DCAPVerifier(kind: .tdx, collateral: [try TestData.qvlCollateral("tdx/dcap-qvl/tdx_quote_collateral.json")])
        let at = TestData.time("2025-07-01T00:00:00Z")
        let quotes = try ["sgx/dcap-qvl/sgx_quote.dat", "tdx/dcap-qvl/tdx_quote.dat", "tdx/go-tdx-guest/quote_v5_sample.dat",
                          "tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat"].map(TestData.bytes)
        let count = Self.run("SGX/TDX quote (parse + verify)", inputs: quotes, seed: 1) { bytes in
            let quote = try DCAPQuote(bytes)
            _ = try (quote.isTDX ? tdx : sgx).verify(bytes, at: at)
            // Accepted only if the signed header and body are a sample's, byte for byte.
            let signed = Array(bytes.prefix(quote.signedLength))
            #expect(quotes.contains { Array($0.prefix(quote.signedLength)) == signed }, "a quote with altered signed bytes verified")
        }
        #expect(count > 0)
    }

    @Test(.enabled(if: seconds != nil)) func snpReports() throws {
        let verifier = SNPVerifier(collateral: try TestData.amdCollateral(vek: "snp/trustee/test-vcek.der"))
        let at = TestData.time("2026-07-01T00:00:00Z")
        let table = SNPTableBuilder.build([(SNPCertificateTable.vcekGUID, try TestData.bytes("snp/virtee-sev/vcek_milan.der"))])
        let inputs = [try TestData.bytes("snp/trustee/test-report.bin"), try TestData.bytes("snp/virtee-sev/report_milan.bin") + table,
                      try TestData.bytes("snp/openanolis-trustee/turin-report.bin"), table]
        let count = Self.run("SNP report + certificate table (parse + verify)", inputs: inputs, seed: 2) { bytes in
            if bytes.count < SNPReport.size { _ = try SNPCertificateTable(bytes); return }
            _ = try SNPReport(bytes)
            _ = try verifier.verify(bytes, at: at)
            // Accepted only if the signed range (0x000..0x29F) is a sample's, byte for byte.
            #expect(inputs.contains { $0.count >= 0x2A0 && Array($0.prefix(0x2A0)) == Array(bytes.prefix(0x2A0)) },
                    "an SNP report with altered signed bytes verified")
        }
        #expect(count > 0)
    }

    @Test(.enabled(if: seconds != nil)) func collateralJSON() throws {
        let chain = try TestData.certificates("tdx/go-tdx-guest/tcbinfo_issuer_chain.pem")
        let inputs = try ["sgx/dcap-qvl/sgx_quote_collateral.json", "tdx/go-tdx-guest/sample_tcbInfo_response",
                          "tdx/go-tdx-guest/sample_qeIdentity_response", "tdx/trustee/tcbInfo.json"].map(TestData.bytes)
        let at = TestData.time("2025-07-01T00:00:00Z")
        let count = Self.run("collateral JSON (qvl, PCS bodies, TCB Info / QE Identity)", inputs: inputs, seed: 3) { bytes in
            if bytes.first == UInt8(ascii: "{"), let collateral = try? IntelCollateral(qvlJSON: bytes) {
                _ = try collateral.validate(kind: .sgx, fmspc: nil, ca: nil, at: at)
                return
            }
            let tcb = try SignedCollateral(responseBody: bytes, member: "tcbInfo", issuerChain: chain)
            _ = try tcb.decodedTCBInfo()
            _ = try SignedCollateral(responseBody: bytes, member: "enclaveIdentity", issuerChain: chain).decodedEnclaveIdentity()
        }
        #expect(count > 0)
    }

    @Test(.enabled(if: seconds != nil)) func certificateChainsAndCRLs() throws {
        let pem = try ["roots/amd/ask_ark_milan_vcek.pem", "tdx/go-tdx-guest/tcbinfo_issuer_chain.pem", "roots/intel_sgx_root_ca.pem"]
            .map(TestData.bytes)
        let der = try ["snp/go-sev-guest/vcek.der", "roots/intel_sgx_root_ca.der", "tdx/go-tdx-guest/rootcrl.der", "tdx/go-tdx-guest/pckcrl"]
            .map(TestData.bytes)
        let count = Self.run("certificate chains, certificates, CRLs", inputs: pem + der, seed: 4) { bytes in
            if bytes.first == 0x30 {
                do { _ = try VendorCertificate(der: bytes) } catch { _ = try RevocationList(der: bytes) }
            } else {
                let chain = try PEMCertificates.parse(bytes, what: "fuzzed bundle")
                for (certificate, issuer) in zip(chain, chain.dropFirst()) { _ = certificate.isSigned(by: issuer) }
            }
        }
        #expect(count > 0)
    }
}
