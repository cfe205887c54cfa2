import ArcaAttestation
import ArcaCommands
import ArcaCore
import ArcaTestSupport
import Testing

@Suite("arca evidence verify")
struct EvidenceCommandTests {
    @Test func verifiesAnSGXQuoteWithCollateral() async throws {
        try await Fixture.withTemporaryDirectory { base in
            try CollateralDirectoryTests.layout(base)
            let outcome = EvidenceVerifyCommand.verify(file: TestData.root + "/sgx/dcap-qvl/sgx_quote.dat", kind: nil,
                                                       at: "2025-07-01T00:00:00Z", collateral: base)
            #expect(outcome.error == nil)
            #expect(outcome.kind == .sgx)
            #expect(outcome.evidence?.tcbStatus == "ConfigurationAndSWHardeningNeeded")
            #expect(outcome.text().contains("VERIFIED"))
            #expect(outcome.json().contains("\"tcbStatus\":\"ConfigurationAndSWHardeningNeeded\""))
            #expect(outcome.json().contains("\"advisories\":[\"INTEL-SA-00289\",\"INTEL-SA-00615\"]"))
        }
    }

    @Test func detectsSNPAndTDX() async throws {
        try await Fixture.withTemporaryDirectory { base in
            try CollateralDirectoryTests.layout(base)
            let snp = EvidenceVerifyCommand.verify(file: TestData.root + "/snp/trustee/test-report.bin", kind: nil,
                                                   at: "2026-07-01T00:00:00Z", collateral: base)
            #expect(snp.kind == .snp)
            #expect(snp.error == nil)
            let tdx = EvidenceVerifyCommand.verify(file: TestData.root + "/tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat", kind: nil,
                                                   at: "2023-07-01T01:00:00Z", collateral: nil)
            #expect(tdx.kind == .tdx)
            #expect(tdx.error == nil)
            #expect(tdx.notes.contains { $0.contains("TCB status not evaluated") })
        }
    }

    @Test func failureNamesTheFirstFailedCheck() throws {
        let expired = EvidenceVerifyCommand.verify(file: TestData.root + "/tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat", kind: "tdx",
                                                   at: "2053-07-01T01:00:00Z", collateral: nil)
        #expect(expired.text().contains("FAILED: PCK certificate chain"))
        #expect(expired.text().contains("2029-09-20T13:20:31Z"))
        #expect(expired.json().contains("\"ok\":false"))
        let wrongKind = EvidenceVerifyCommand.verify(file: TestData.root + "/sgx/dcap-qvl/sgx_quote.dat", kind: "tdx",
                                                     at: "2025-07-01T00:00:00Z", collateral: nil)
        #expect(wrongKind.error?.message.contains("SGX quote") == true)
        let badTime = EvidenceVerifyCommand.verify(file: TestData.root + "/sgx/dcap-qvl/sgx_quote.dat", kind: nil, at: "yesterday", collateral: nil)
        #expect(badTime.error?.message.contains("is not of the form") == true)
        let notEvidence = EvidenceVerifyCommand.verify(file: TestData.root + "/README.md", kind: nil, at: nil, collateral: nil)
        #expect(notEvidence.error?.message.contains("pass --kind") == true)
        let missingVEK = EvidenceVerifyCommand.verify(file: TestData.root + "/snp/trustee/test-report.bin", kind: "snp",
                                                      at: "2026-07-01T00:00:00Z", collateral: nil)
        #expect(missingVEK.error?.message.contains("no SEV-VCEK certificate was supplied") == true)
    }

    @Test func commandExitsNonZeroOnFailure() throws {
        var command = try EvidenceVerifyCommand.parse([TestData.root + "/tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat",
                                                       "--at", "2053-07-01T01:00:00Z", "--format", "json"])
        #expect(throws: (any Error).self) { try command.run() }
        command = try EvidenceVerifyCommand.parse([TestData.root + "/tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat", "--at", "2023-07-01T01:00:00Z"])
        try command.run()
    }

    @Test func timeRoundTrips() throws {
        for text in ["1970-01-01T00:00:00Z", "2025-07-01T00:00:00Z", "2049-12-31T23:59:59Z", "2000-02-29T12:34:56Z"] {
            #expect(AttestationTime.format(try AttestationTime.parse(text)) == text)
        }
        #expect(AttestationTime.format(try AttestationTime.parse("2025-07-01T00:00:00.250Z")) == "2025-07-01T00:00:00Z")
        for bad in ["2025-13-01T00:00:00Z", "2025-07-01 00:00:00Z", "2025-07-01T00:00:00+02:00", "", "2025-07-01T00:00:00"] {
            #expect(throws: ArcaError.self) { _ = try AttestationTime.parse(bad) }
        }
    }
}
