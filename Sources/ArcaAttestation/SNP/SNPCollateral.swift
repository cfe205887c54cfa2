import ArcaCore

/// What an SNP verifier trusts and may use: the pinned ARK fingerprints per product, the
/// ASK/ASVK/ARK certificates (AMD KDS `cert_chain` bundles), and VCEK/VLEK certificates for
/// reports that arrive without a certificate table.
public struct SNPCollateral: Sendable {
    /// SHA-256 fingerprints of the AMD Root Keys (DER), per product line. These are AMD's
    /// production ARKs, as published by AMD KDS and shipped by go-sev-guest and virtee/sev.
    public static let amdRootFingerprints: [SNPProduct: String] = [
        .milan: "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
        .genoa: "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
        .turin: "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
    ]

    public var pinnedRoots: [SNPProduct: String]
    /// ARK and ASK/ASVK certificates.
    public var authorities: [VendorCertificate]
    /// VCEK/VLEK certificates known ahead of time.
    public var endorsementKeys: [VendorCertificate]

    public init(pinnedRoots: [SNPProduct: String] = SNPCollateral.amdRootFingerprints,
                authorities: [VendorCertificate] = [], endorsementKeys: [VendorCertificate] = []) {
        self.pinnedRoots = pinnedRoots
        self.authorities = authorities
        self.endorsementKeys = endorsementKeys
    }

    /// Adds every certificate in a PEM or DER file: self-issued ones and those whose subject
    /// starts with `SEV-` but is not a VEK go to authorities, VCEK/VLEK certificates to endorsement keys.
    public mutating func add(certificates: [VendorCertificate]) {
        for certificate in certificates {
            if certificate.subjectCommonName == "SEV-VCEK" || certificate.subjectCommonName == "SEV-VLEK" {
                endorsementKeys.append(certificate)
            } else {
                authorities.append(certificate)
            }
        }
    }
}
