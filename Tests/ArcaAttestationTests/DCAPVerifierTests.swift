import ArcaAttestation
import ArcaCore
import FoundationEssentials
import Testing

@Suite("Intel SGX and TDX quotes")
struct DCAPVerifierTests {
    static let qvlTime = TestData.time("2025-07-01T00:00:00Z")

    // MARK: full verification with collateral

    @Test func sgxQuoteWithCollateral() throws {
        let verifier = DCAPVerifier(kind: .sgx, collateral: [try TestData.qvlCollateral("sgx/dcap-qvl/sgx_quote_collateral.json")])
        let (result, _, tcb) = try verifier.verifyQuote(try TestData.bytes("sgx/dcap-qvl/sgx_quote.dat"), at: Self.qvlTime)
        #expect(result.tcbStatus == "ConfigurationAndSWHardeningNeeded")
        #expect(result.advisories == ["INTEL-SA-00289", "INTEL-SA-00615"])
        #expect(tcb?.qeStatus == "UpToDate")
        #expect(result.measurements["mrenclave"] == "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb")
        #expect(result.measurements["mrsigner"] == "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6")
        #expect(result.measurements["isvprodid"] == "0")
        #expect(result.measurements["fmspc"] == "00a067110000")
        #expect(result.reportData == Array("Hello, world!".utf8) + [UInt8](repeating: 0, count: 51))
        #expect(!result.debug)
        #expect(result.platform.hasSuffix(DCAPVerifier.intelRootFingerprint))
    }

    @Test func tdxV4QuoteWithCollateral() throws {
        let verifier = DCAPVerifier(kind: .tdx, collateral: [try TestData.qvlCollateral("tdx/dcap-qvl/tdx_quote_collateral.json")])
        let (result, _, tcb) = try verifier.verifyQuote(try TestData.bytes("tdx/dcap-qvl/tdx_quote.dat"), at: Self.qvlTime)
        #expect(result.tcbStatus == "UpToDate")
        #expect(result.advisories.isEmpty)
        #expect(tcb?.moduleStatus == "UpToDate")
        #expect(result.measurements["mrtd"] == "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7")
        #expect(result.measurements["rtmr0"] == "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0")
        #expect(result.measurements["rtmr3"] == String(repeating: "0", count: 96))
        #expect(!result.debug)
    }

    @Test func tdxV5QuoteWithConsistentCollateral() throws {
        let verifier = DCAPVerifier(kind: .tdx, collateral: [try TestData.qvlCollateral("tdx/dcap-qvl/tdx_quote_outdated_collateral.json")])
        let (result, _, tcb) = try verifier.verifyQuote(try TestData.bytes("tdx/go-tdx-guest/quote_v5_sample.dat"),
                                                         at: TestData.time("2026-03-01T00:00:00Z"))
        #expect(result.tcbStatus == "UpToDate")
        #expect(tcb?.moduleStatus == "UpToDate")
        #expect(tcb?.qeStatus == "UpToDate")
        #expect(result.measurements["quote_version"] == "5")
        #expect(result.measurements["mrtd"] == "7348651a34b2d2d3462822e3a750ec6110125f36757c78480bbfc69cc0d21fb001a1ced3ee19747dda8f750c3bc8f876")
        #expect(result.measurements["tee_tcb_svn2"] == "0d010400000000000000000000000000")
    }

    @Test func tdxV5OutdatedQuoteHasNoMatchingLevel() throws {
        let verifier = DCAPVerifier(kind: .tdx, collateral: [try TestData.qvlCollateral("tdx/dcap-qvl/tdx_quote_outdated_collateral.json")])
        expectFailure("TCB level not supported") {
            _ = try verifier.verify(try TestData.bytes("tdx/dcap-qvl/tdx_quote_outdated.dat"), at: TestData.time("2026-03-01T00:00:00Z"))
        }
    }

    @Test func sprQuoteHasNoMatchingLevelInGoTDXGuestCollateral() throws {
        let verifier = DCAPVerifier(kind: .tdx, collateral: [try TestData.goTDXCollateral()])
        expectFailure("TCB level not supported") {
            _ = try verifier.verify(try TestData.bytes("tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat"), at: TestData.time("2023-07-01T01:00:00Z"))
        }
    }

    @Test func trusteeDebugTDIsUpToDateWithGoTDXGuestCollateral() throws {
        let verifier = DCAPVerifier(kind: .tdx, collateral: [try TestData.goTDXCollateral()])
        let result = try verifier.verify(try TestData.bytes("tdx/trustee/tdx_quote_4.dat"), at: TestData.time("2023-07-01T01:00:00Z"))
        #expect(result.tcbStatus == "UpToDate")
        #expect(result.debug)
        #expect(result.measurements["mrtd"] == "705ee9381b8633a9fbe532b52345e8433343d2868959f57889d84ca377c395b689cac1599ccea1b7d420483a9ce5f031")
    }

    @Test func trusteeQuote6IsOutOfDate() throws {
        // trustee ships the PCS bodies without headers or CRLs of the same era: check their
        // signatures with the 2025–2032 TCB Signing certificate, then match the TCB levels.
        let chain = try TestData.qvlCollateral("sgx/dcap-qvl/sgx_quote_collateral.json").tcbInfo.issuerChain
        let tcbInfo = try SignedCollateral(responseBody: try TestData.bytes("tdx/trustee/tcbInfo.json"), member: "tcbInfo", issuerChain: chain)
        let identity = try SignedCollateral(responseBody: try TestData.bytes("tdx/trustee/enclaveIdentity.json"), member: "enclaveIdentity", issuerChain: chain)
        let signer = try #require(chain.first)
        #expect(signer.verifiesRawP256(signature: tcbInfo.signature, over: tcbInfo.body))
        #expect(signer.verifiesRawP256(signature: identity.signature, over: identity.body))

        let quote = try DCAPQuote(try TestData.bytes("tdx/trustee/tdx_quote_6.dat"))
        let pck = try PCKExtensions(try #require(try PEMCertificates.parse(quote.pckChainPEM, what: "chain").first))
        let result = try TCBEvaluator.evaluate(quote: quote, pck: pck, tcbInfo: try tcbInfo.decodedTCBInfo(),
                                               qeIdentity: try identity.decodedEnclaveIdentity())
        #expect(result.status == "OutOfDate")
        #expect(result.moduleStatus == "UpToDate")
        #expect(result.qeStatus == "UpToDate")
        #expect(result.advisories.isEmpty, "the PCESVN-5 level lists no advisory IDs")
    }

    @Test func quoteV5AgainstGoTDXGuestV5TCBInfo() throws {
        // go-tdx-guest's 2026 TCB Info has no QE Identity of its era; pair it with dcap-qvl's
        // TD_QE identity for FMSPC 90c06f000000 and match levels only.
        let chain = try TestData.certificates("tdx/go-tdx-guest/tcbinfo_issuer_chain.pem")
        let tcbInfo = try SignedCollateral(responseBody: try TestData.bytes("tdx/go-tdx-guest/sample_tcbinfo_response_v5"), member: "tcbInfo", issuerChain: chain)
        #expect(try #require(chain.first).verifiesRawP256(signature: tcbInfo.signature, over: tcbInfo.body))
        let identity = try TestData.qvlCollateral("tdx/dcap-qvl/tdx_quote_outdated_collateral.json").qeIdentity
        let quote = try DCAPQuote(try TestData.bytes("tdx/go-tdx-guest/quote_v5_sample.dat"))
        let pck = try PCKExtensions(try #require(try PEMCertificates.parse(quote.pckChainPEM, what: "chain").first))
        let result = try TCBEvaluator.evaluate(quote: quote, pck: pck, tcbInfo: try tcbInfo.decodedTCBInfo(),
                                               qeIdentity: try identity.decodedEnclaveIdentity())
        #expect(result.platformStatus == "UpToDate")
        #expect(result.moduleStatus == "UpToDate")
    }

    @Test func sprQuoteFieldValues() throws {
        // go-tdx-guest tools/check/check_test.go asserts these.
        let verifier = DCAPVerifier(kind: .tdx, collateral: [], requireCollateral: false)
        let result = try verifier.verify(try TestData.bytes("tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat"), at: TestData.time("2023-07-01T01:00:00Z"))
        #expect(result.measurements["mrtd"] == "6363b8043668a3ad953278e10389574d326c6749fb78aa810ecd9336923db86f22fc00b8dcd404bc10d5e119d7215cbb")
        #expect(result.measurements["mrseam"] == "2fd279c16164a93dd5bf373d834328d46008c2b693af9ebb865b08b2ced320c9a89b4869a9fab60fbe9d0c5a5363c656")
        #expect(result.measurements["td_attributes"] == "0000004000000000")
        #expect(result.measurements["xfam"] == "e71a060000000000")
        #expect(result.measurements["tee_tcb_svn"] == "03000400000000000000000000000000")
        #expect(Hex.encode(result.reportData) == "6c62dec1b8191749a31dab490be532a35944dea47caef1f980863993d9899545eb7406a38d1eed313b987a467dacead6f0c87a6d766c66f6f29f8acb281f1113")
        #expect(!result.debug)
        let quote = try DCAPQuote(try TestData.bytes("tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat"))
        #expect(Hex.encode(quote.qeVendorID) == "939a7233f79c4ca9940a0db3957f0607")
    }

    @Test func trusteeQuote5ModuleIsOutOfDateButNoPlatformLevelMatches() throws {
        let collateral = try TestData.qvlCollateral("tdx/dcap-qvl/tdx_quote_outdated_collateral.json")
        let quote = try DCAPQuote(try TestData.bytes("tdx/trustee/tdx_quote_5.dat"))
        let pck = try PCKExtensions(try #require(try PEMCertificates.parse(quote.pckChainPEM, what: "chain").first))
        #expect(pck.componentSVNs.prefix(8) == [1, 1, 2, 2, 3, 1, 0, 3])
        expectFailure("TCB level not supported") {
            _ = try TCBEvaluator.evaluate(quote: quote, pck: pck, tcbInfo: try collateral.tcbInfo.decodedTCBInfo(),
                                          qeIdentity: try collateral.qeIdentity.decodedEnclaveIdentity())
        }
    }

    // MARK: cryptographic checks without collateral

    static let chainOnly: [(String, String, EvidenceKind)] = [
        ("sgx/trustee/occlum_quote.dat", "2026-07-01T00:00:00Z", .sgx),
        ("tdx/go-tdx-guest/ccel/cos-113-tdx-quote.dat", "2026-07-01T00:00:00Z", .tdx),
        ("tdx/trustee/tdx_quote_5.dat", "2026-07-01T00:00:00Z", .tdx),
        ("tdx/trustee/tdx_quote_6.dat", "2026-07-01T00:00:00Z", .tdx),
        ("tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat", "2023-07-01T01:00:00Z", .tdx),
        ("tdx/go-tdx-guest/quote_v5_sample.dat", "2026-02-03T01:00:00Z", .tdx),
    ]

    @Test("quotes without collateral verify their signatures and chain", arguments: chainOnly.map { [$0.0, $0.1, $0.2.rawValue] })
    func chainAndSignatures(_ sample: [String]) throws {
        let verifier = DCAPVerifier(kind: EvidenceKind(rawValue: sample[2]), collateral: [], requireCollateral: false)
        let result = try verifier.verify(try TestData.bytes(sample[0]), at: TestData.time(sample[1]))
        #expect(result.tcbStatus == nil)
    }

    @Test func cos113ReportDataIsTheNonce() throws {
        let verifier = DCAPVerifier(kind: .tdx, collateral: [], requireCollateral: false)
        let result = try verifier.verify(try TestData.bytes("tdx/go-tdx-guest/ccel/cos-113-tdx-quote.dat"), at: TestData.time("2026-07-01T00:00:00Z"))
        #expect(result.reportData == (try TestData.bytes("tdx/go-tdx-guest/ccel/cos-113-nonce.dat")))
    }

    @Test func occlumEnclaveIsDebug() throws {
        let verifier = DCAPVerifier(kind: .sgx, collateral: [], requireCollateral: false)
        let result = try verifier.verify(try TestData.bytes("sgx/trustee/occlum_quote.dat"), at: TestData.time("2026-07-01T00:00:00Z"))
        #expect(result.debug)
        #expect(result.reportData.prefix(4) == Array("test".utf8)[...])
    }

    @Test func missingCollateralIsAnErrorByDefault() throws {
        let verifier = DCAPVerifier(kind: .sgx, collateral: [])
        expectFailure("no Intel collateral") {
            _ = try verifier.verify(try TestData.bytes("sgx/trustee/occlum_quote.dat"), at: TestData.time("2026-07-01T00:00:00Z"))
        }
    }

    // MARK: negative cases built from the samples

    static func sgxVerifier() throws -> DCAPVerifier {
        DCAPVerifier(kind: .sgx, collateral: [try TestData.qvlCollateral("sgx/dcap-qvl/sgx_quote_collateral.json")])
    }

    @Test func flippedBitInTheBody() throws {
        var quote = try TestData.bytes("sgx/dcap-qvl/sgx_quote.dat")
        quote[48 + 64] ^= 0x01  // MRENCLAVE
        let verifier = try Self.sgxVerifier()
        expectFailure("quote signature does not verify") { _ = try verifier.verify(quote, at: Self.qvlTime) }
    }

    @Test func flippedBitInTheSignature() throws {
        var quote = try TestData.bytes("sgx/dcap-qvl/sgx_quote.dat")
        quote[436 + 10] ^= 0x01
        let verifier = try Self.sgxVerifier()
        expectFailure("quote signature does not verify") { _ = try verifier.verify(quote, at: Self.qvlTime) }
    }

    @Test func flippedBitInTheQEReport() throws {
        var quote = try TestData.bytes("sgx/dcap-qvl/sgx_quote.dat")
        quote[436 + 128 + 100] ^= 0x01
        let verifier = try Self.sgxVerifier()
        expectFailure("QE report signature does not verify") { _ = try verifier.verify(quote, at: Self.qvlTime) }
    }

    @Test func flippedBitInTheAttestationKey() throws {
        var quote = try TestData.bytes("sgx/dcap-qvl/sgx_quote.dat")
        quote[436 + 64 + 3] ^= 0x01
        let verifier = try Self.sgxVerifier()
        expectFailure("QE report data does not bind the attestation key") { _ = try verifier.verify(quote, at: Self.qvlTime) }
    }

    @Test func flippedBitInTheCertificationData() throws {
        let original = try TestData.bytes("sgx/dcap-qvl/sgx_quote.dat")
        // Flip a bit inside the base64 body of the PCK leaf: a different character, same length.
        let pemStart = try #require(Self.find(Array("MII".utf8), in: original))
        var quote = original
        quote[pemStart + 200] = quote[pemStart + 200] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let verifier = try Self.sgxVerifier()
        #expect(throws: ArcaError.self) { _ = try verifier.verify(quote, at: Self.qvlTime) }
    }

    @Test func chainEndingAtAnotherRoot() throws {
        let verifier = DCAPVerifier(kind: .sgx, collateral: [], requireCollateral: false, pinnedRoots: [String(repeating: "ab", count: 32)])
        expectFailure("which is not a pinned root") {
            _ = try verifier.verify(try TestData.bytes("sgx/dcap-qvl/sgx_quote.dat"), at: Self.qvlTime)
        }
    }

    @Test func expiredChainAtALaterTime() throws {
        // go-tdx-guest: the SPR quote's chain has expired by 2053.
        let verifier = DCAPVerifier(kind: .tdx, collateral: [], requireCollateral: false)
        expectFailure("expired or not yet valid") {
            _ = try verifier.verify(try TestData.bytes("tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat"), at: TestData.time("2053-07-01T01:00:00Z"))
        }
    }

    @Test func expiredCollateralAtALaterTime() throws {
        let verifier = try Self.sgxVerifier()
        expectFailure("not current") {
            _ = try verifier.verify(try TestData.bytes("sgx/dcap-qvl/sgx_quote.dat"), at: TestData.time("2025-08-01T00:00:00Z"))
        }
    }

    @Test func alteredTCBInfoSignatureFails() throws {
        var collateral = try TestData.qvlCollateral("sgx/dcap-qvl/sgx_quote_collateral.json")
        collateral.tcbInfo.body[20] ^= 0x01
        let verifier = DCAPVerifier(kind: .sgx, collateral: [collateral])
        #expect(throws: ArcaError.self) { _ = try verifier.verify(try TestData.bytes("sgx/dcap-qvl/sgx_quote.dat"), at: Self.qvlTime) }
    }

    @Test func wrongFMSPCCollateral() throws {
        let verifier = DCAPVerifier(kind: .tdx, collateral: [try TestData.qvlCollateral("tdx/dcap-qvl/tdx_quote_collateral.json")])
        expectFailure("no TCB Info for FMSPC 90c06f000000") {
            _ = try verifier.verify(try TestData.bytes("tdx/go-tdx-guest/quote_v5_sample.dat"), at: TestData.time("2026-03-01T00:00:00Z"))
        }
    }

    @Test func pckCRLForTheWrongCA() throws {
        // The SGX quote's PCK comes from the Processor CA; give it the Platform CA's CRL.
        var collateral = try TestData.qvlCollateral("sgx/dcap-qvl/sgx_quote_collateral.json")
        let platform = try TestData.qvlCollateral("tdx/dcap-qvl/tdx_quote_collateral.json")
        collateral.pckCRL = platform.pckCRL
        collateral.pckCRLIssuerChain = platform.pckCRLIssuerChain
        let verifier = DCAPVerifier(kind: .sgx, collateral: [collateral])
        expectFailure("PCK CRL is issued by 'Intel SGX PCK Platform CA'") {
            _ = try verifier.verify(try TestData.bytes("sgx/dcap-qvl/sgx_quote.dat"), at: Self.qvlTime)
        }
    }

    @Test func wrongKindIsRefused() throws {
        let verifier = DCAPVerifier(kind: .sgx, collateral: [], requireCollateral: false)
        expectFailure("TDX quote") { _ = try verifier.verify(try TestData.bytes("tdx/dcap-qvl/tdx_quote.dat"), at: Self.qvlTime) }
    }

    @Test func trailingBytesAfterTheSignatureAreIgnored() throws {
        // go-tdx-guest's SPR quote ends in 39 unsigned bytes of text; cos-113 in 3065 zeros.
        let verifier = DCAPVerifier(kind: .tdx, collateral: [], requireCollateral: false)
        let quote = try TestData.bytes("tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat")
        let at = TestData.time("2023-07-01T01:00:00Z")
        let parsed = try DCAPQuote(quote)
        #expect(parsed.trailingBytes == 39)
        let plain = try verifier.verify(quote, at: at)
        var padded = quote + [0, 0, 0]
        padded[quote.count - 1] ^= 0xff
        #expect(try verifier.verify(padded, at: at) == plain)
        #expect(try DCAPQuote(try TestData.bytes("tdx/go-tdx-guest/ccel/cos-113-tdx-quote.dat")).trailingBytes == 3065)
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where Array(haystack[i..<i + needle.count]) == needle { return i }
        return nil
    }
}
