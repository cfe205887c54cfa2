import ArcaAttestation
import ArcaCore
import FoundationEssentials
import Testing

/// Hostile input: truncation at every boundary, flipped bits, overflowing lengths. Every
/// outcome must be a result or an `ArcaError`, never a crash or a foreign error type.
@Suite("Malformed evidence and collateral")
struct MalformedInputTests {
    /// Deterministic generator so a failure reproduces (SplitMix64).
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// `ARCA_FUZZ_SCALE=N` multiplies every mutation count; `ARCA_FUZZ_SEED` shifts the seeds.
    static let scale = max(1, Int(environmentValue("ARCA_FUZZ_SCALE") ?? "") ?? 1)
    static let seedOffset = UInt64(environmentValue("ARCA_FUZZ_SEED") ?? "") ?? 0

    /// Runs `body`, failing the test on anything but success or an ArcaError.
    static func survive(_ label: String, _ body: () throws -> Void) {
        do { try body() } catch is ArcaError {} catch {
            Issue.record("\(label): non-ArcaError \(type(of: error)): \(error)")
        }
    }

    /// Calls `body` with `count × scale` mutations of `input`, one at a time.
    static func mutations(of input: [UInt8], count: Int, seed: UInt64, lengthOffsets: [Int] = [],
                          _ body: (Int, [UInt8]) -> Void) {
        var rng = Generator(state: seed &+ seedOffset &* 0x1000)
        for i in 0..<count * scale {
            var m = input
            switch i % 4 {
            case 0:  // flip one bit
                let at = Int.random(in: 0..<m.count, using: &rng)
                m[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
            case 1:  // overwrite a run with random bytes
                let at = Int.random(in: 0..<m.count, using: &rng)
                for j in at..<min(m.count, at + Int.random(in: 1...16, using: &rng)) { m[j] = UInt8.random(in: 0...255, using: &rng) }
            case 2:  // overflowing length field
                let at = lengthOffsets.isEmpty ? Int.random(in: 0..<max(1, m.count - 4), using: &rng)
                                               : lengthOffsets[Int.random(in: 0..<lengthOffsets.count, using: &rng)]
                for j in at..<min(m.count, at + 4) { m[j] = 0xff }
            default:  // truncate at a random point
                m = Array(m.prefix(Int.random(in: 0..<m.count, using: &rng)))
            }
            body(i, m)
        }
    }

    @Test func quoteTruncatedAtEveryOffset() throws {
        for path in ["sgx/dcap-qvl/sgx_quote.dat", "tdx/dcap-qvl/tdx_quote.dat", "tdx/go-tdx-guest/quote_v5_sample.dat"] {
            let quote = try TestData.bytes(path)
            let full = try DCAPQuote(quote)
            let signatureEnd = quote.count - full.trailingBytes
            for length in 0..<signatureEnd {
                Self.survive("\(path) truncated to \(length)") {
                    _ = try DCAPQuote(Array(quote.prefix(length)))
                    Issue.record("\(path) truncated to \(length) bytes parsed")
                }
            }
        }
    }

    @Test func quoteMutationsWithFullVerification() throws {
        let quote = try TestData.bytes("sgx/dcap-qvl/sgx_quote.dat")
        let verifier = DCAPVerifier(kind: .sgx, collateral: [try TestData.qvlCollateral("sgx/dcap-qvl/sgx_quote_collateral.json")])
        let at = TestData.time("2025-07-01T00:00:00Z")
        // signature data length, QE auth data length, certification data type/size
        let lengths = [432, 436 + 128 + 384 + 64, 436 + 128 + 384 + 64 + 2 + 32, 436 + 128 + 384 + 64 + 2 + 32 + 2]
        var accepted = 0
        Self.mutations(of: quote, count: 240, seed: 1, lengthOffsets: lengths) { i, mutated in
            Self.survive("sgx mutation \(i)") {
                _ = try verifier.verify(mutated, at: at)
                accepted += 1
            }
        }
        // Only mutations in unsigned, unchecked bytes (PEM whitespace, cut trailing text) may pass.
        #expect(accepted < 24 * Self.scale)
    }

    @Test func tdxQuoteMutations() throws {
        let quote = try TestData.bytes("tdx/dcap-qvl/tdx_quote.dat")
        let verifier = DCAPVerifier(kind: .tdx, collateral: [try TestData.qvlCollateral("tdx/dcap-qvl/tdx_quote_collateral.json")])
        let at = TestData.time("2025-07-01T00:00:00Z")
        let lengths = [632, 636 + 128, 636 + 128 + 2, 636 + 128 + 6 + 384 + 64]
        Self.mutations(of: quote, count: 200, seed: 2, lengthOffsets: lengths) { i, mutated in
            Self.survive("tdx mutation \(i)") { _ = try verifier.verify(mutated, at: at) }
        }
    }

    @Test func snpReportMutations() throws {
        let report = try TestData.bytes("snp/trustee/test-report.bin")
        let verifier = SNPVerifier(collateral: try TestData.amdCollateral(vek: "snp/trustee/test-vcek.der"))
        let at = TestData.time("2026-07-01T00:00:00Z")
        for length in 0..<SNPReport.size {
            Self.survive("snp truncated to \(length)") {
                _ = try verifier.verify(Array(report.prefix(length)), at: at)
                Issue.record("SNP report truncated to \(length) bytes verified")
            }
        }
        Self.mutations(of: report, count: 200, seed: 3, lengthOffsets: [0, 0x34, 0x48]) { i, mutated in
            Self.survive("snp mutation \(i)") {
                _ = try verifier.verify(mutated, at: at)
                // Only the reserved, unsigned tail after the signature may change.
                #expect(mutated.count >= 0x2A0 + 144 && Array(mutated.prefix(0x2A0 + 144)) == Array(report.prefix(0x2A0 + 144)),
                        "mutation \(i) of signed bytes verified")
            }
        }
    }

    @Test func snpCertificateTableMutations() throws {
        let report = try TestData.bytes("snp/virtee-sev/report_milan.bin")
        let table = SNPTableBuilder.build([(SNPCertificateTable.vcekGUID, try TestData.bytes("snp/virtee-sev/vcek_milan.der"))])
        let verifier = SNPVerifier(collateral: try TestData.amdCollateral())
        let at = TestData.time("2026-07-01T00:00:00Z")
        Self.mutations(of: table, count: 150, seed: 4, lengthOffsets: [16, 20, 40, 44]) { i, mutated in
            Self.survive("table mutation \(i)") { _ = try verifier.verify(report + mutated, at: at) }
        }
    }

    @Test func certificateAndCRLMutations() throws {
        let inputs = [try TestData.bytes("snp/go-sev-guest/vcek.der"), try TestData.bytes("roots/intel_sgx_root_ca.der"),
                      try TestData.bytes("tdx/go-tdx-guest/rootcrl.der"), try TestData.bytes("tdx/go-tdx-guest/pckcrl")]
        for (n, input) in inputs.enumerated() {
            for length in stride(from: 0, to: input.count, by: 7) {
                Self.survive("DER \(n) truncated to \(length)") {
                    if n < 2 { _ = try VendorCertificate(der: Array(input.prefix(length))) } else { _ = try RevocationList(der: Array(input.prefix(length))) }
                }
            }
            Self.mutations(of: input, count: 150, seed: 10 + UInt64(n), lengthOffsets: [1, 2, 5, 6]) { i, mutated in
                Self.survive("DER \(n) mutation \(i)") {
                    if n < 2 { _ = try VendorCertificate(der: mutated) } else { _ = try RevocationList(der: mutated) }
                }
            }
        }
    }

    @Test func collateralJSONMutations() throws {
        let json = try TestData.bytes("tdx/go-tdx-guest/sample_qeIdentity_response")
        let chain = try TestData.certificates("tdx/go-tdx-guest/qeidentity_issuer_chain.pem")
        for length in 0..<json.count {
            Self.survive("QE identity truncated to \(length)") {
                _ = try SignedCollateral(responseBody: Array(json.prefix(length)), member: "enclaveIdentity", issuerChain: chain).decodedEnclaveIdentity()
            }
        }
        Self.mutations(of: json, count: 300, seed: 20) { i, mutated in
            Self.survive("QE identity mutation \(i)") {
                _ = try SignedCollateral(responseBody: mutated, member: "enclaveIdentity", issuerChain: chain).decodedEnclaveIdentity()
            }
        }
        let deep = Array(("{\"enclaveIdentity\":" + String(repeating: "[", count: 10_000)).utf8)
        Self.survive("deep nesting") {
            _ = try SignedCollateral(responseBody: deep, member: "enclaveIdentity", issuerChain: chain)
            Issue.record("deeply nested JSON was accepted")
        }
        let qvl = try TestData.bytes("sgx/dcap-qvl/sgx_quote_collateral.json")
        Self.mutations(of: qvl, count: 60, seed: 21) { i, mutated in
            Self.survive("qvl collateral mutation \(i)") { _ = try IntelCollateral(qvlJSON: mutated) }
        }
    }

    @Test func pemBundleMutations() throws {
        let pem = try TestData.bytes("roots/amd/ask_ark_milan_vcek.pem")
        Self.mutations(of: pem, count: 100, seed: 30) { i, mutated in
            Self.survive("PEM mutation \(i)") { _ = try PEMCertificates.parse(mutated, what: "bundle") }
        }
        Self.survive("binary garbage") { _ = try PEMCertificates.parse([0xff, 0xfe, 0x00, 0x80], what: "garbage") }
    }
}
