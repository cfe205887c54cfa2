import ArcaCore
import FoundationEssentials
import SwiftASN1

extension IntelCollateral {
    /// The collateral as dcap-qvl `QuoteCollateralV3` JSON (the form `init(qvlJSON:)` reads):
    /// the signed TCB Info / QE Identity text byte for byte, hex signatures and CRLs, PEM chains.
    /// The keeper stores imported and fetched collateral in this one form.
    public func qvlJSON() throws -> [UInt8] {
        func text(_ bytes: [UInt8], _ what: String) throws -> String {
            guard let string = String(validating: bytes, as: UTF8.self) else {
                throw ArcaError(.invalidFormat, "\(what) is not UTF-8 text")
            }
            return string
        }
        let value = QVLCollateralJSON(
            pck_crl_issuer_chain: Self.pem(pckCRLIssuerChain), root_ca_crl: Hex.encode(rootCRL.der), pck_crl: Hex.encode(pckCRL.der),
            tcb_info_issuer_chain: Self.pem(tcbInfo.issuerChain), tcb_info: try text(tcbInfo.body, "TCB Info"),
            tcb_info_signature: Hex.encode(tcbInfo.signature), qe_identity_issuer_chain: Self.pem(qeIdentity.issuerChain),
            qe_identity: try text(qeIdentity.body, "QE Identity"), qe_identity_signature: Hex.encode(qeIdentity.signature))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value))
    }

    static func pem(_ chain: [VendorCertificate]) -> String {
        chain.map { PEMDocument(type: "CERTIFICATE", derBytes: $0.der).pemString + "\n" }.joined()
    }
}
