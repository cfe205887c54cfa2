import ArcaCore
import FoundationEssentials

/// Everything an SGX/TDX verifier needs beyond the quote for one FMSPC: TCB Info and QE
/// Identity (each signed by the TCB Signing chain), the PCK CRL with its issuer chain, and the
/// root CA CRL.
public struct IntelCollateral: Sendable {
    public var tcbInfo: SignedCollateral
    public var qeIdentity: SignedCollateral
    public var pckCRL: RevocationList
    public var pckCRLIssuerChain: [VendorCertificate]
    public var rootCRL: RevocationList

    public init(tcbInfo: SignedCollateral, qeIdentity: SignedCollateral, pckCRL: RevocationList,
                pckCRLIssuerChain: [VendorCertificate], rootCRL: RevocationList) {
        self.tcbInfo = tcbInfo
        self.qeIdentity = qeIdentity
        self.pckCRL = pckCRL
        self.pckCRLIssuerChain = pckCRLIssuerChain
        self.rootCRL = rootCRL
    }

    /// The FMSPC the TCB Info is for, lowercase hex (for picking the right collateral).
    public func fmspc() throws -> String {
        try tcbInfo.decode(TCBInfo.self, what: "TCB Info").fmspc.lowercased()
    }

    /// Reads dcap-qvl's `QuoteCollateralV3` JSON (what its `get_collateral` returns): PEM issuer
    /// chains, hex DER CRLs, the exact signed TCB Info / QE Identity text and hex signatures.
    public init(qvlJSON bytes: [UInt8]) throws {
        let qvl: QVLCollateralJSON
        do { qvl = try JSONDecoder().decode(QVLCollateralJSON.self, from: Data(bytes)) } catch {
            throw ArcaError(.invalidFormat, "collateral JSON lacks the QuoteCollateralV3 fields", cause: error)
        }
        func hex(_ text: String, _ what: String) throws -> [UInt8] {
            guard let bytes = Hex.decode(text) else { throw ArcaError(.invalidFormat, "collateral \(what) is not hex") }
            return bytes
        }
        func signature(_ text: String, _ what: String) throws -> [UInt8] {
            let bytes = try hex(text, what)
            guard bytes.count == 64 else { throw ArcaError(.invalidFormat, "collateral \(what) is \(bytes.count) bytes, not 64") }
            return bytes
        }
        self.init(
            tcbInfo: SignedCollateral(body: Array(qvl.tcb_info.utf8), signature: try signature(qvl.tcb_info_signature, "tcb_info_signature"),
                                      issuerChain: try PEMCertificates.parse(Array(qvl.tcb_info_issuer_chain.utf8), what: "tcb_info_issuer_chain")),
            qeIdentity: SignedCollateral(body: Array(qvl.qe_identity.utf8), signature: try signature(qvl.qe_identity_signature, "qe_identity_signature"),
                                         issuerChain: try PEMCertificates.parse(Array(qvl.qe_identity_issuer_chain.utf8), what: "qe_identity_issuer_chain")),
            pckCRL: try RevocationList(der: try hex(qvl.pck_crl, "pck_crl")),
            pckCRLIssuerChain: try PEMCertificates.parse(Array(qvl.pck_crl_issuer_chain.utf8), what: "pck_crl_issuer_chain"),
            rootCRL: try RevocationList(der: try hex(qvl.root_ca_crl, "root_ca_crl")))
    }
}

/// dcap-qvl's `QuoteCollateralV3` JSON: PEM issuer chains, hex DER CRLs, the exact signed TCB Info
/// / QE Identity text and hex signatures.
struct QVLCollateralJSON: Codable {
    var pck_crl_issuer_chain: String
    var root_ca_crl: String
    var pck_crl: String
    var tcb_info_issuer_chain: String
    var tcb_info: String
    var tcb_info_signature: String
    var qe_identity_issuer_chain: String
    var qe_identity: String
    var qe_identity_signature: String
}
