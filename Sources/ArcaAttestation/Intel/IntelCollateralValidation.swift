import ArcaCore
import Crypto
import FoundationEssentials

/// Checks on Intel collateral that do not need a quote: every signature and issuer chain up to
/// the pinned root, freshness, and that it is the collateral that was asked for (kind, FMSPC,
/// PCK CA). The keeper runs them on collateral fetched from a PCCS or imported from files
/// before it keeps any of it; `DCAPVerifier` runs the same signed-document check per quote.
extension IntelCollateral {
    /// What a successful validation established.
    public struct Validated: Sendable {
        public var tcbInfo: TCBInfo
        public var qeIdentity: EnclaveIdentity
        /// The earliest `nextUpdate` of TCB Info, QE Identity and both CRLs: after it the set is stale.
        public var nextUpdate: Date
    }

    /// The PCK CA that issued a PCK certificate, as the PCS `pckcrl?ca=` parameter names it.
    public enum PCKCertificateAuthority: String, Sendable, CaseIterable {
        case processor, platform

        /// Intel's CA common names: "Intel SGX PCK Processor CA", "Intel SGX PCK Platform CA".
        public init(commonName: String) throws {
            if commonName == "Intel SGX PCK Processor CA" { self = .processor }
            else if commonName == "Intel SGX PCK Platform CA" { self = .platform }
            else { throw ArcaError(.invalidFormat, "PCK certificate issuer '\(commonName)' is not an Intel SGX PCK Processor or Platform CA") }
        }
    }

    /// Validates every part at `time`.
    /// - Parameters:
    ///   - kind: `.sgx` or `.tdx` — the TCB Info id and QE Identity id must be for it.
    ///   - fmspc: the FMSPC asked for (lowercase or uppercase hex); nil skips the check.
    ///   - ca: the PCK CA whose CRL was asked for; nil skips the check.
    ///   - checkFreshness: false checks signatures and chains only at `time` (import of old files).
    public func validate(kind: EvidenceKind, fmspc: String?, ca: PCKCertificateAuthority?, at time: Date,
                         pinnedRoots: Set<String> = [DCAPVerifier.intelRootFingerprint],
                         checkFreshness: Bool = true) throws -> Validated {
        guard kind == .sgx || kind == .tdx else { throw ArcaError(.invalidArgument, "intel collateral is for sgx or tdx, not \(kind)") }
        let now = Int64(time.timeIntervalSince1970.rounded(.down))
        // Is it what was asked for? Checked on the unverified text first for a clear message
        // (a wrong answer is refused either way), then everything is checked cryptographically.
        let claimed = try tcbInfo.decodedTCBInfo()
        let expectedID = kind == .tdx ? "TDX" : "SGX"
        guard claimed.id == expectedID, claimed.version >= 3 else {
            throw ArcaError(.integrity, "TCB Info is id '\(claimed.id)' version \(claimed.version), not the '\(expectedID)' version 3 asked for")
        }
        if let fmspc, claimed.fmspc.lowercased() != fmspc.lowercased() {
            throw ArcaError(.integrity, "TCB Info is for FMSPC \(claimed.fmspc.lowercased()), but FMSPC \(fmspc.lowercased()) was asked for")
        }
        let claimedQE = try qeIdentity.decodedEnclaveIdentity()
        guard claimedQE.id == (kind == .tdx ? "TD_QE" : "QE") else {
            throw ArcaError(.integrity, "QE Identity is for '\(claimedQE.id)', not the \(kind == .tdx ? "TD_QE" : "QE") asked for")
        }
        let tcbInfo: TCBInfo = try Self.checkSigned(tcbInfo, rootCRL: rootCRL, pinnedRoots: pinnedRoots, now: now,
                                                    checkFreshness: checkFreshness, label: "TCB Info")
        let qeIdentity: EnclaveIdentity = try Self.checkSigned(qeIdentity, rootCRL: rootCRL, pinnedRoots: pinnedRoots, now: now,
                                                               checkFreshness: checkFreshness, label: "QE Identity")
        // The root CRL is signed by the pinned root that anchors the TCB Info chain.
        let root = self.tcbInfo.issuerChain[self.tcbInfo.issuerChain.count - 1]
        let crlTime = checkFreshness ? now : rootCRL.thisUpdate
        try rootCRL.check(issuer: root, at: crlTime, label: "root CA CRL")
        try CertificateChain.validate(pckCRLIssuerChain, pinnedRoots: pinnedRoots, at: now, label: "PCK CRL issuer chain")
        if let ca, try PCKCertificateAuthority(commonName: pckCRLIssuerChain[0].subjectCommonName) != ca {
            throw ArcaError(.integrity, "PCK CRL is issued by \(pckCRLIssuerChain[0].name), but the \(ca.rawValue) CA's CRL was asked for")
        }
        try pckCRL.check(issuer: pckCRLIssuerChain[0], at: checkFreshness ? now : pckCRL.thisUpdate, label: "PCK CRL")
        for certificate in pckCRLIssuerChain.dropLast() + self.tcbInfo.issuerChain.dropLast() where rootCRL.isRevoked(certificate) {
            throw ArcaError(.integrity, "\(certificate.name) is revoked by the Intel root CA CRL")
        }
        let updates = [try AttestationTime.parse(tcbInfo.nextUpdate), try AttestationTime.parse(qeIdentity.nextUpdate)]
            + [rootCRL.nextUpdate, pckCRL.nextUpdate].compactMap { $0.map { Date(timeIntervalSince1970: TimeInterval($0)) } }
        return Validated(tcbInfo: tcbInfo, qeIdentity: qeIdentity, nextUpdate: updates.min() ?? time)
    }

    /// Checks one signed document: issuer chain to a pinned root, not revoked by the root CRL,
    /// signature over the exact bytes, and (when asked) current at `now`.
    static func checkSigned<T: Decodable>(_ item: SignedCollateral, rootCRL: RevocationList, pinnedRoots: Set<String>, now: Int64,
                                          checkFreshness: Bool = true, label: String) throws -> T {
        try CertificateChain.validate(item.issuerChain, pinnedRoots: pinnedRoots, at: now, label: "\(label) issuer chain")
        if rootCRL.isRevoked(item.issuerChain[0]) {
            throw ArcaError(.integrity, "\(label) signing certificate \(item.issuerChain[0].name) is revoked by the root CA CRL")
        }
        guard case .p256(let key) = try item.issuerChain[0].ecdsaKey(),
              let signature = try? P256.Signing.ECDSASignature(rawRepresentation: item.signature),
              key.isValidSignature(signature, for: SHA256.hash(data: item.body)) else {
            throw ArcaError(.integrity, "\(label) signature does not verify with the TCB Signing key (collateral altered)")
        }
        let value = try item.decode(T.self, what: label)
        guard checkFreshness else { return value }
        let (issue, next): (String, String)
        switch value {
        case let info as TCBInfo: (issue, next) = (info.issueDate, info.nextUpdate)
        case let identity as EnclaveIdentity: (issue, next) = (identity.issueDate, identity.nextUpdate)
        default: throw ArcaError(.invalidArgument, "\(label) has an unknown collateral type")
        }
        let issued = Int64(try AttestationTime.parse(issue).timeIntervalSince1970)
        let expires = Int64(try AttestationTime.parse(next).timeIntervalSince1970)
        guard now >= issued, now < expires else {
            throw ArcaError(.integrity, "\(label) is not current at \(CertificateChain.format(now)): issued \(issue), next update \(next) (\(now >= expires ? "expired" : "not yet issued")); fetch fresh collateral")
        }
        return value
    }
}
