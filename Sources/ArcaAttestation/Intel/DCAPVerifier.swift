import ArcaCore
import Crypto
import FoundationEssentials

/// Verifies Intel SGX (quote v3) or TDX (quote v4/v5) evidence: the PCK chain embedded as
/// certification data type 5 up to the pinned Intel SGX Root CA, the QE report signed by the
/// PCK, the QE report data binding the attestation key, the quote signed by that key, and —
/// with collateral — CRLs, TCB Info and QE Identity signatures and freshness, FMSPC match and
/// the TCB level with its advisories.
public struct DCAPVerifier: EvidenceVerifier {
    /// SHA-256 of Intel's production SGX Root CA (DER), serial 22650cd6…; valid until 2049.
    public static let intelRootFingerprint = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"

    public let kind: EvidenceKind
    public let collateral: [IntelCollateral]
    public let pinnedRoots: Set<String>
    /// Without collateral the TCB cannot be evaluated. When false, such evidence is still
    /// checked cryptographically and reported with `tcbStatus == nil`; a policy must then refuse it.
    public let requireCollateral: Bool

    public init(kind: EvidenceKind, collateral: [IntelCollateral], requireCollateral: Bool = true,
                pinnedRoots: Set<String> = [DCAPVerifier.intelRootFingerprint]) {
        self.kind = kind
        self.collateral = collateral
        self.requireCollateral = requireCollateral
        self.pinnedRoots = pinnedRoots
    }

    public func verify(_ evidence: [UInt8], at time: Date) throws -> VerifiedEvidence {
        try verifyQuote(evidence, at: time).evidence
    }

    public func verifyQuote(_ evidence: [UInt8], at time: Date) throws -> (evidence: VerifiedEvidence, quote: DCAPQuote, tcb: TCBEvaluation?) {
        let now = Int64(time.timeIntervalSince1970.rounded(.down))
        let quote = try DCAPQuote(evidence)
        guard kind == (quote.isTDX ? .tdx : .sgx) else {
            throw ArcaError(.invalidArgument, "evidence is a\(quote.isTDX ? " TDX" : "n SGX") quote, but a \(kind) verifier was asked")
        }

        // 1. PCK chain to the pinned root.
        let chain = try PEMCertificates.parse(quote.pckChainPEM, what: "quote PCK certificate chain")
        try CertificateChain.validate(chain, pinnedRoots: pinnedRoots, at: now, label: "PCK certificate chain")
        let pck = chain[0]

        // 2. QE report signed by the PCK key.
        guard case .p256(let pckKey) = try pck.ecdsaKey(),
              let qeSignature = try? P256.Signing.ECDSASignature(rawRepresentation: quote.qeReportSignature),
              pckKey.isValidSignature(qeSignature, for: SHA256.hash(data: quote.qeReportRaw)) else {
            throw ArcaError(.integrity, "QE report signature does not verify with the PCK certificate key (QE report or certification data altered)")
        }

        // 3. The QE vouches for the attestation key: REPORT_DATA = SHA-256(key ‖ auth data) ‖ zeros.
        let binding = Array(SHA256.hash(data: quote.attestationKey + quote.qeAuthData))
        guard Array(quote.qeReport.reportData.prefix(32)) == binding, quote.qeReport.reportData[32...].allSatisfy({ $0 == 0 }) else {
            throw ArcaError(.integrity, "QE report data does not bind the attestation key: SHA-256(attestation key ‖ QE auth data) differs")
        }

        // 4. Header and body signed by the attestation key.
        guard let attestationKey = try? P256.Signing.PublicKey(rawRepresentation: quote.attestationKey),
              let quoteSignature = try? P256.Signing.ECDSASignature(rawRepresentation: quote.signature),
              attestationKey.isValidSignature(quoteSignature, for: SHA256.hash(data: quote.raw[0..<quote.signedLength])) else {
            throw ArcaError(.integrity, "quote signature does not verify with the attestation key (quote header or body altered)")
        }

        let pckExtensions = try PCKExtensions(pck)
        let fmspc = Hex.encode(pckExtensions.fmspc)
        var tcb: TCBEvaluation?
        if collateral.isEmpty {
            guard !requireCollateral else {
                throw ArcaError(.notFound, "no Intel collateral was given; TCB status for FMSPC \(fmspc) cannot be evaluated (pass --collateral DIR)")
            }
        } else {
            tcb = try evaluateTCB(quote: quote, chain: chain, pck: pckExtensions, fmspc: fmspc, now: now)
        }
        return (verifiedEvidence(quote: quote, pck: pckExtensions, root: chain[chain.count - 1], tcb: tcb), quote, tcb)
    }

    private func evaluateTCB(quote: DCAPQuote, chain: [VendorCertificate], pck: PCKExtensions, fmspc: String,
                          now: Int64) throws -> TCBEvaluation {
        let candidates = collateral.filter { (try? $0.fmspc()) == fmspc }
        guard let set = candidates.first else {
            let known = collateral.compactMap { try? $0.fmspc() }.joined(separator: ", ")
            throw ArcaError(.notFound, "no TCB Info for FMSPC \(fmspc) in the collateral (have: \(known.isEmpty ? "none" : known))")
        }
        let root = chain[chain.count - 1]
        let pckIssuer = chain[1]

        // CRLs: root CRL signed by the root covers the intermediates; PCK CRL signed by the PCK CA covers the leaf.
        try set.rootCRL.check(issuer: root, at: now, label: "root CA CRL")
        try CertificateChain.validate(set.pckCRLIssuerChain, pinnedRoots: pinnedRoots, at: now, label: "PCK CRL issuer chain")
        guard set.pckCRLIssuerChain[0].subjectName == pckIssuer.subjectName else {
            throw ArcaError(.integrity,
                            "PCK CRL is issued by \(set.pckCRLIssuerChain[0].name), but the PCK certificate by \(pckIssuer.name); fetch the CRL for that CA")
        }
        try set.pckCRL.check(issuer: set.pckCRLIssuerChain[0], at: now, label: "PCK CRL")
        for certificate in chain.dropLast() where certificate.issuerName == root.subjectName {
            guard !set.rootCRL.isRevoked(certificate) else {
                throw ArcaError(.integrity, "\(certificate.name) is revoked by the Intel root CA CRL")
            }
        }
        guard !set.pckCRL.isRevoked(chain[0]) else {
            throw ArcaError(.integrity, "PCK certificate (serial \(Hex.encode(chain[0].serialNumber))) is revoked by the PCK CRL")
        }

        // TCB Info and QE Identity: signed by the TCB Signing chain, current at `now`.
        let tcbInfo: TCBInfo = try checkSigned(set.tcbInfo, rootCRL: set.rootCRL, now: now, label: "TCB Info")
        let qeIdentity: EnclaveIdentity = try checkSigned(set.qeIdentity, rootCRL: set.rootCRL, now: now, label: "QE Identity")
        let expectedID = quote.isTDX ? "TDX" : "SGX"
        guard tcbInfo.id == expectedID, tcbInfo.version >= 3 else {
            throw ArcaError(.unsupported, "TCB Info is id '\(tcbInfo.id)' version \(tcbInfo.version); a \(expectedID) quote needs id '\(expectedID)' version 3")
        }
        guard qeIdentity.id == (quote.isTDX ? "TD_QE" : "QE") else {
            throw ArcaError(.integrity, "QE Identity is for '\(qeIdentity.id)', not for the \(quote.isTDX ? "TD_QE" : "QE") this quote needs")
        }
        guard tcbInfo.fmspc.lowercased() == fmspc, tcbInfo.pceId.lowercased() == Hex.encode(pck.pceID) else {
            throw ArcaError(.integrity, "TCB Info FMSPC/PCEID \(tcbInfo.fmspc)/\(tcbInfo.pceId) do not match the PCK certificate's \(fmspc)/\(Hex.encode(pck.pceID))")
        }
        return try TCBEvaluator.evaluate(quote: quote, pck: pck, tcbInfo: tcbInfo, qeIdentity: qeIdentity)
    }

    private func checkSigned<T: Decodable>(_ item: SignedCollateral, rootCRL: RevocationList, now: Int64, label: String) throws -> T {
        try IntelCollateral.checkSigned(item, rootCRL: rootCRL, pinnedRoots: pinnedRoots, now: now, label: label)
    }

    private func verifiedEvidence(quote: DCAPQuote, pck: PCKExtensions, root: VendorCertificate, tcb: TCBEvaluation?) -> VerifiedEvidence {
        var m: [String: String] = [
            "fmspc": Hex.encode(pck.fmspc),
            "pcesvn": String(pck.pceSVN),
            "qe_isvsvn": String(quote.qeReport.isvSVN),
            "quote_version": String(quote.version),
        ]
        let reportData: [UInt8], debug: Bool
        switch quote.body {
        case .sgx(let body):
            m["mrenclave"] = Hex.encode(body.mrEnclave)
            m["mrsigner"] = Hex.encode(body.mrSigner)
            m["isvprodid"] = String(body.isvProdID)
            m["isvsvn"] = String(body.isvSVN)
            m["configsvn"] = String(body.configSVN)
            m["configid"] = Hex.encode(body.configID)
            m["attributes"] = Hex.encode(body.attributes)
            m["miscselect"] = String(body.miscSelect)
            m["cpusvn"] = Hex.encode(body.cpuSVN)
            reportData = body.reportData
            debug = body.debug
        case .td(let body):
            m["mrtd"] = Hex.encode(body.mrTD)
            for (i, rtmr) in body.rtmrs.enumerated() { m["rtmr\(i)"] = Hex.encode(rtmr) }
            m["mrconfigid"] = Hex.encode(body.mrConfigID)
            m["mrowner"] = Hex.encode(body.mrOwner)
            m["mrownerconfig"] = Hex.encode(body.mrOwnerConfig)
            m["mrseam"] = Hex.encode(body.mrSeam)
            m["mrsignerseam"] = Hex.encode(body.mrSignerSeam)
            m["td_attributes"] = Hex.encode(body.tdAttributes)
            m["seam_attributes"] = Hex.encode(body.seamAttributes)
            m["xfam"] = Hex.encode(body.xfam)
            m["tee_tcb_svn"] = Hex.encode(body.teeTCBSVN)
            if let svn2 = body.teeTCBSVN2 { m["tee_tcb_svn2"] = Hex.encode(svn2) }
            if let service = body.mrServiceTD { m["mrservicetd"] = Hex.encode(service) }
            reportData = body.reportData
            debug = body.debug
        }
        return VerifiedEvidence(kind: kind, reportData: reportData, measurements: m, debug: debug,
                                tcbStatus: tcb?.status, advisories: tcb?.advisories ?? [],
                                platform: "intel-sgx-root:sha256:\(root.fingerprint)")
    }
}
