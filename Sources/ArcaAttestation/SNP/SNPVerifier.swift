import ArcaCore
import Crypto
import FoundationEssentials
import SwiftASN1

/// Verifies AMD SEV-SNP evidence: the report (optionally followed by the GHCB certificate
/// table), its ECDSA P-384 signature by a VCEK or VLEK, the VEK → ASK/ASVK → ARK chain with the
/// ARK pinned per product, and the VEK's TCB and hardware-ID extensions against the report.
public struct SNPVerifier: EvidenceVerifier {
    public let kind = EvidenceKind.snp
    public let collateral: SNPCollateral

    public init(collateral: SNPCollateral = SNPCollateral()) { self.collateral = collateral }

    public func verify(_ evidence: [UInt8], at time: Date) throws -> VerifiedEvidence {
        try verifyReport(evidence, at: time).evidence
    }

    /// The checks in order, with the parsed report and the VEK that signed it.
    public func verifyReport(_ evidence: [UInt8], at time: Date) throws -> (evidence: VerifiedEvidence, report: SNPReport, product: SNPProduct) {
        let now = Int64(time.timeIntervalSince1970.rounded(.down))
        let report = try SNPReport(evidence)
        let table = evidence.count > SNPReport.size ? try SNPCertificateTable(Array(evidence[SNPReport.size...])) : nil

        let keyKind: String
        switch report.signingKey {
        case 0: keyKind = "SEV-VCEK"
        case 1: keyKind = "SEV-VLEK"
        default: throw ArcaError(.unsupported, "SNP report signing key \(report.signingKey) is neither a VCEK (0) nor a VLEK (1)")
        }

        // Candidate VEKs: the one the host shipped with the report, then the collateral's.
        var candidates: [VendorCertificate] = []
        if let der = table?.entries[keyKind == "SEV-VCEK" ? SNPCertificateTable.vcekGUID : SNPCertificateTable.vlekGUID] {
            candidates.append(try VendorCertificate(der: der))
        }
        candidates += collateral.endorsementKeys
        let ofKind = candidates.filter { $0.subjectCommonName == keyKind }
        guard !ofKind.isEmpty else {
            let have = Set(candidates.map(\.subjectCommonName)).sorted().joined(separator: ", ")
            throw ArcaError(.notFound,
                            "SNP report is signed by a \(keyKind == "SEV-VCEK" ? "VCEK" : "VLEK") but no \(keyKind) certificate was supplied" + (have.isEmpty ? "" : " (have: \(have))"))
        }
        guard let signature = try? P384.Signing.ECDSASignature(rawRepresentation: report.signatureR + report.signatureS) else {
            throw ArcaError(.invalidFormat, "SNP report signature is not a P-384 ECDSA signature")
        }
        let digest = SHA384.hash(data: report.raw[0..<SNPReport.signedSize])
        guard let vek = ofKind.first(where: { certificate in
            guard case .p384(let key)? = try? certificate.ecdsaKey() else { return false }
            return key.isValidSignature(signature, for: digest)
        }) else {
            throw ArcaError(.integrity, "SNP report signature does not verify with the \(keyKind) certificate (report altered or wrong VEK)")
        }

        let extensions = try VEKExtensions(vek)
        let product = try Self.product(report: report, vek: extensions)
        guard let pinned = collateral.pinnedRoots[product] else {
            throw ArcaError(.notFound, "no ARK fingerprint is pinned for SNP product \(product.rawValue)")
        }

        // VEK → ASK/ASVK → ARK.
        var authorities = collateral.authorities
        for guid in [SNPCertificateTable.askGUID, SNPCertificateTable.arkGUID] {
            if let der = table?.entries[guid] { authorities.append(try VendorCertificate(der: der)) }
        }
        guard let intermediate = authorities.first(where: { $0.subjectName == vek.issuerName && $0.subjectName != $0.issuerName }) else {
            throw ArcaError(.notFound,
                            "no certificate for '\(vek.issuerCommonName)', the issuer of the \(keyKind) certificate, was supplied (add the AMD \(keyKind == "SEV-VCEK" ? "ASK" : "ASVK") chain for \(product.rawValue))")
        }
        guard let ark = authorities.first(where: { $0.subjectName == intermediate.issuerName && $0.subjectName == $0.issuerName }) else {
            throw ArcaError(.notFound, "no AMD root certificate '\(intermediate.issuerCommonName)' was supplied")
        }
        try CertificateChain.validate([vek, intermediate, ark], pinnedRoots: [pinned], at: now,
                                      label: "SNP \(product.rawValue) certificate chain")
        let expectedIssuer = keyKind == "SEV-VCEK" ? "SEV-\(product.rawValue)" : "SEV-VLEK-\(product.rawValue)"
        guard vek.issuerCommonName == expectedIssuer else {
            throw ArcaError(.integrity, "\(keyKind) certificate is issued by '\(vek.issuerCommonName)', not by '\(expectedIssuer)'")
        }

        // The VEK is specific to a TCB (and, for a VCEK, to a chip): it must match the report.
        let reported = SNPTCB(report.reportedTCB, product: product)
        let certified = extensions.tcb
        guard reported.bootLoader == certified.bootLoader, reported.tee == certified.tee, reported.snp == certified.snp,
              reported.microcode == certified.microcode, product != .turin || reported.fmc == certified.fmc else {
            throw ArcaError(.integrity,
                            "SNP reported TCB (\(reported)) differs from the TCB in the \(keyKind) certificate (\(certified)); fetch the VEK for this TCB")
        }
        if keyKind == "SEV-VCEK" {
            guard let hwID = extensions.hardwareID else {
                throw ArcaError(.invalidFormat, "VCEK certificate has no hardware ID extension")
            }
            let expected = product == .turin ? Array(report.chipID.prefix(8)) : report.chipID
            guard hwID == expected else {
                throw ArcaError(.integrity, "SNP report CHIP_ID \(Hex.encode(report.chipID.prefix(8)))… is not the VCEK's hardware ID \(Hex.encode(hwID.prefix(8)))…")
            }
        }

        var measurements: [String: String] = [
            "measurement": Hex.encode(report.measurement),
            "host_data": Hex.encode(report.hostData),
            "id_key_digest": Hex.encode(report.idKeyDigest),
            "author_key_digest": Hex.encode(report.authorKeyDigest),
            "family_id": Hex.encode(report.familyID),
            "image_id": Hex.encode(report.imageID),
            "guest_svn": String(report.guestSVN),
            "policy": "0x" + String(report.policy, radix: 16),
            "vmpl": String(report.vmpl),
            "version": String(report.version),
            "reported_tcb": "0x" + String(report.reportedTCB, radix: 16),
            "tcb_bootloader": String(reported.bootLoader),
            "tcb_tee": String(reported.tee),
            "tcb_snp": String(reported.snp),
            "tcb_microcode": String(reported.microcode),
            "chip_id": Hex.encode(report.chipID),
            "product": product.rawValue,
            "signing_key": keyKind == "SEV-VCEK" ? "vcek" : "vlek",
        ]
        if let fmc = reported.fmc { measurements["tcb_fmc"] = String(fmc) }
        if let csp = extensions.cspID { measurements["csp_id"] = csp }
        let verified = VerifiedEvidence(kind: .snp, reportData: report.reportData, measurements: measurements,
                                        debug: report.debugAllowed, tcbStatus: nil, advisories: [],
                                        platform: "amd-ark-\(product.rawValue.lowercased()):sha256:\(ark.fingerprint)")
        return (verified, report, product)
    }

    /// The product line from the report's CPUID bytes (v3+) and the VEK; they must agree.
    static func product(report: SNPReport, vek: VEKExtensions) throws -> SNPProduct {
        let fromReport = SNPProduct(family: report.cpuidFamily, model: report.cpuidModel)
        let fromVEK = vek.productName.flatMap { SNPProduct(productName: $0) }
        if let fromReport, let fromVEK, fromReport != fromVEK {
            throw ArcaError(.integrity, "SNP report CPUID says \(fromReport.rawValue) but the VEK certificate says \(fromVEK.rawValue)")
        }
        guard let product = fromReport ?? fromVEK else {
            throw ArcaError(.unsupported,
                            "cannot tell the SNP product line: CPUID bytes \(Hex.encode([report.cpuidFamily, report.cpuidModel])) and VEK product name '\(vek.productName ?? "")' are unknown")
        }
        return product
    }
}

/// AMD's VCEK/VLEK extensions (KDS interface spec): TCB SPLs, product name, hardware ID, CSP ID.
struct VEKExtensions {
    var tcb: SNPTCB
    var productName: String?
    var hardwareID: [UInt8]?
    var cspID: String?

    init(_ vek: VendorCertificate) throws {
        let base = "1.3.6.1.4.1.3704.1"
        func optionalSPL(_ suffix: String) throws -> UInt8? {
            guard let value = vek.extensions["\(base).3.\(suffix)"] else { return nil }
            let number = try DERNode.smallInteger(try DERNode.parse(value, "VEK TCB extension"), "VEK TCB extension \(suffix)")
            guard number <= 255 else { throw ArcaError(.invalidFormat, "VEK TCB extension \(suffix) is \(number), over 255") }
            return UInt8(number)
        }
        func spl(_ suffix: String) throws -> UInt8 {
            guard let value = try optionalSPL(suffix) else {
                throw ArcaError(.invalidFormat, "VEK certificate lacks TCB extension \(base).3.\(suffix)")
            }
            return value
        }
        tcb = SNPTCB(0, product: .milan)
        tcb.bootLoader = try spl("1")
        tcb.tee = try spl("2")
        tcb.snp = try spl("3")
        tcb.microcode = try spl("8")
        tcb.fmc = try optionalSPL("9")
        productName = vek.extensions["\(base).2"].flatMap(Self.string)
        cspID = vek.extensions["\(base).5"].flatMap(Self.string)
        // The hwID extension value is the raw chip ID (64 bytes; 8 on Turin), not DER.
        hardwareID = vek.extensions["1.3.6.1.4.1.3704.1.4"]
    }

    private static func string(_ value: [UInt8]) -> String? {
        guard let node = try? DER.parse(value), case .primitive(let bytes) = node.content else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
