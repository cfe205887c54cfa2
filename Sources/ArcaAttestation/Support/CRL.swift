import ArcaCore
import SwiftASN1

/// An X.509 certificate revocation list (Intel root CA CRL and PCK CRLs), ECDSA-signed.
public struct RevocationList: Sendable {
    /// The CRL as given (DER).
    public let der: [UInt8]
    public let issuerName: [UInt8]
    public let issuerCommonName: String
    public let thisUpdate: Int64
    public let nextUpdate: Int64?
    /// Revoked serial numbers, leading zeros stripped.
    public let revokedSerials: Set<[UInt8]>
    let tbs: [UInt8]
    let signatureAlgorithm: VendorCertificate.SignatureAlgorithm
    let signature: [UInt8]

    /// At most this many entries; Intel's PCK CRLs hold tens to a few thousand.
    static let maximumEntries = 1_000_000

    public init(der: [UInt8]) throws {
        let top = try DERNode.children(try DERNode.parse(der, "CRL"), "CRL")
        guard top.count == 3 else { throw ArcaError(.invalidFormat, "CRL has \(top.count) top-level fields, not 3") }
        let fields = try DERNode.children(top[0], "tbsCertList")
        var index = 0
        if index < fields.count, fields[index].identifier == .integer { index += 1 }
        guard fields.count >= index + 3 else { throw ArcaError(.invalidFormat, "tbsCertList is truncated") }
        let algorithm = try Self.algorithm(fields[index])
        let issuer = fields[index + 1]
        _ = try DERNode.children(issuer, "CRL issuer")
        let thisUpdate = try DERNode.time(fields[index + 2], "CRL thisUpdate")
        index += 3
        var nextUpdate: Int64?
        if index < fields.count, fields[index].identifier == .utcTime || fields[index].identifier == .generalizedTime {
            nextUpdate = try DERNode.time(fields[index], "CRL nextUpdate")
            index += 1
        }
        var revoked = Set<[UInt8]>()
        if index < fields.count, fields[index].identifier == .sequence {
            let entries = try DERNode.children(fields[index], "revokedCertificates")
            guard entries.count <= Self.maximumEntries else {
                throw ArcaError(.limitExceeded, "CRL has \(entries.count) entries, over the limit of \(Self.maximumEntries)")
            }
            for entry in entries {
                let parts = try DERNode.children(entry, "CRL entry")
                guard let serial = parts.first else { throw ArcaError(.invalidFormat, "CRL entry is empty") }
                revoked.insert(try DERNode.integerBytes(serial, "CRL entry serial"))
            }
        }
        guard try Self.algorithm(top[1]) == algorithm else {
            throw ArcaError(.invalidFormat, "CRL signature algorithms inside and outside the signed part differ")
        }
        let bits = try DERNode.primitive(top[2], .bitString, "CRL signature")
        guard bits.first == 0 else { throw ArcaError(.invalidFormat, "CRL signature bit string has unused bits") }
        self.der = der
        self.issuerName = Array(issuer.encodedBytes)
        self.issuerCommonName = DERNode.commonName(issuer)
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.revokedSerials = revoked
        self.tbs = Array(top[0].encodedBytes)
        self.signatureAlgorithm = algorithm
        self.signature = Array(bits.dropFirst())
    }

    /// Checks the CRL's signature against `issuer`, and its freshness at `time`.
    func check(issuer: VendorCertificate, at time: Int64, label: String) throws {
        guard issuer.subjectName == issuerName else {
            throw ArcaError(.integrity, "\(label) is issued by '\(issuerCommonName)', not by \(issuer.name)")
        }
        guard issuer.verifies(signature: signature, algorithm: signatureAlgorithm, over: tbs) else {
            throw ArcaError(.integrity, "\(label) signature does not verify with the key of \(issuer.name)")
        }
        guard time >= thisUpdate, nextUpdate.map({ time < $0 }) ?? true else {
            let window = "\(CertificateChain.format(thisUpdate)) .. \(nextUpdate.map(CertificateChain.format) ?? "open")"
            throw ArcaError(.integrity, "\(label) is not current at \(CertificateChain.format(time)): valid \(window); fetch fresh collateral")
        }
    }

    func isRevoked(_ certificate: VendorCertificate) -> Bool { revokedSerials.contains(certificate.serialNumber) }

    private static func algorithm(_ node: ASN1Node) throws -> VendorCertificate.SignatureAlgorithm {
        let parts = try DERNode.children(node, "CRL signature algorithm")
        guard let first = parts.first else { throw ArcaError(.invalidFormat, "CRL signature algorithm is empty") }
        switch try DERNode.oid(first, "CRL signature algorithm") {
        case [1, 2, 840, 10045, 4, 3, 2]: return .ecdsaSHA256
        case [1, 2, 840, 10045, 4, 3, 3]: return .ecdsaSHA384
        case let other: throw ArcaError(.unsupported, "CRL signature algorithm \(other) is not ECDSA")
        }
    }
}
