import ArcaCore
import FoundationEssentials

/// Validates a certificate path from a leaf up to a root pinned by SHA-256 fingerprint.
/// Names and signatures must link, every certificate must be valid at `time`, issuers must be
/// CAs where they say so, and no embedded root is trusted unless its fingerprint is pinned.
enum CertificateChain {
    /// `chain[0]` is the leaf, the last element the self-signed root. `label` names the chain in errors.
    static func validate(_ chain: [VendorCertificate], pinnedRoots: Set<String>, at time: Int64,
                         label: String) throws {
        guard let root = chain.last, chain.count >= 2 else {
            throw ArcaError(.integrity, "\(label): chain has \(chain.count) certificate(s); it must reach the root")
        }
        guard pinnedRoots.contains(root.fingerprint) else {
            throw ArcaError(.integrity,
                            "\(label): chain ends at \(root.name) with SHA-256 fingerprint \(root.fingerprint), which is not a pinned root")
        }
        for (position, certificate) in chain.enumerated() {
            try checkValidity(certificate, at: time, label: label)
            let issuer = position + 1 < chain.count ? chain[position + 1] : certificate
            guard certificate.issuerName == issuer.subjectName else {
                throw ArcaError(.integrity,
                                "\(label): \(certificate.name) names issuer '\(certificate.issuerCommonName)', but the next certificate is \(issuer.name)")
            }
            if position > 0, certificate.isCertificateAuthority == false {
                throw ArcaError(.integrity, "\(label): \(certificate.name) issues certificates but is not a CA")
            }
            guard certificate.isSigned(by: issuer) else {
                throw ArcaError(.integrity, "\(label): signature on \(certificate.name) does not verify with the key of \(issuer.name)")
            }
        }
    }

    static func checkValidity(_ certificate: VendorCertificate, at time: Int64, label: String) throws {
        guard time >= certificate.notBefore, time <= certificate.notAfter else {
            throw ArcaError(.integrity,
                            "\(label): \(certificate.name) is not valid at \(format(time)): valid \(format(certificate.notBefore)) .. \(format(certificate.notAfter)) (expired or not yet valid)")
        }
    }

    static func format(_ seconds: Int64) -> String {
        AttestationTime.format(Date(timeIntervalSince1970: TimeInterval(seconds)))
    }
}
