import ArcaAttestation
import ArcaCore
import FoundationEssentials
import Testing

/// TCB status evaluation beyond what the published samples reach: the samples' levels are
/// rewritten (unsigned; `TCBEvaluator` is the step after the signature checks) to cover
/// SWHardeningNeeded, OutOfDate folding from the QE and the terminal Revoked.
@Suite("TCB status evaluation")
struct TCBStatusTests {
    struct Inputs {
        var quote: DCAPQuote
        var pck: PCKExtensions
        var tcbInfo: TCBInfo
        var qeIdentity: EnclaveIdentity
    }

    static func sgx() throws -> Inputs {
        let quote = try DCAPQuote(try TestData.bytes("sgx/dcap-qvl/sgx_quote.dat"))
        let chain = try PEMCertificates.parse(quote.pckChainPEM, what: "PCK chain")
        let collateral = try TestData.qvlCollateral("sgx/dcap-qvl/sgx_quote_collateral.json")
        return Inputs(quote: quote, pck: try PCKExtensions(chain[0]), tcbInfo: try collateral.tcbInfo.decodedTCBInfo(),
                      qeIdentity: try collateral.qeIdentity.decodedEnclaveIdentity())
    }

    static func evaluate(platform: String?, qe: String?) throws -> TCBEvaluation {
        var inputs = try sgx()
        if let platform { for i in inputs.tcbInfo.tcbLevels.indices { inputs.tcbInfo.tcbLevels[i].tcbStatus = platform } }
        if let qe { for i in inputs.qeIdentity.tcbLevels.indices { inputs.qeIdentity.tcbLevels[i].tcbStatus = qe } }
        return try TCBEvaluator.evaluate(quote: inputs.quote, pck: inputs.pck, tcbInfo: inputs.tcbInfo, qeIdentity: inputs.qeIdentity)
    }

    @Test func theSampleAsPublished() throws {
        let result = try Self.evaluate(platform: nil, qe: nil)
        #expect(result.status == TCBStatus.configurationAndSWHardeningNeeded)
        #expect(result.qeStatus == TCBStatus.upToDate)
        #expect(result.advisories.sorted() == ["INTEL-SA-00289", "INTEL-SA-00615"])
    }

    @Test(arguments: [
        (TCBStatus.swHardeningNeeded, TCBStatus.upToDate, TCBStatus.swHardeningNeeded),
        (TCBStatus.upToDate, TCBStatus.outOfDate, TCBStatus.outOfDate),
        (TCBStatus.swHardeningNeeded, TCBStatus.outOfDate, TCBStatus.outOfDate),
        (TCBStatus.configurationNeeded, TCBStatus.outOfDate, TCBStatus.outOfDateConfigurationNeeded),
        (TCBStatus.configurationAndSWHardeningNeeded, TCBStatus.outOfDate, TCBStatus.outOfDateConfigurationNeeded),
        (TCBStatus.outOfDate, TCBStatus.upToDate, TCBStatus.outOfDate),
    ])
    func statusesFold(platform: String, qe: String, expected: String) throws {
        let result = try Self.evaluate(platform: platform, qe: qe)
        #expect(result.status == expected)
        #expect(result.platformStatus == platform)
        #expect(result.qeStatus == qe)
    }

    @Test func revokedIsTerminal() throws {
        expectFailure("TCB level is Revoked (platform Revoked, QE UpToDate)") { _ = try Self.evaluate(platform: TCBStatus.revoked, qe: nil) }
        expectFailure("TCB level is Revoked (platform UpToDate, QE Revoked)") {
            _ = try Self.evaluate(platform: TCBStatus.upToDate, qe: TCBStatus.revoked)
        }
    }

    @Test func aPlatformBelowEveryLevelIsRefused() throws {
        var inputs = try Self.sgx()
        for i in inputs.tcbInfo.tcbLevels.indices { inputs.tcbInfo.tcbLevels[i].tcb.pcesvn = 1000 }
        expectFailure("TCB level not supported") {
            _ = try TCBEvaluator.evaluate(quote: inputs.quote, pck: inputs.pck, tcbInfo: inputs.tcbInfo, qeIdentity: inputs.qeIdentity)
        }
    }
}
