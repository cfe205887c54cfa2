import ArcaCore
import Crypto
import _CryptoExtras
import SwiftASN1

/// An X.509 certificate as TEE vendors issue them: ECDSA (Intel PCK, TCB signing) or
/// RSASSA-PSS/SHA-384 (AMD ARK/ASK/VCEK). swift-certificates refuses PSS signatures and the
/// verifiers need only a few fields, so this parses the subset itself on SwiftASN1.
/// Serial number zero (every AMD VEK) is accepted.
public struct VendorCertificate: Sendable {
    /// The whole DER encoding.
    public let der: [UInt8]
    /// SHA-256 of `der`, lowercase hex: the fingerprint roots are pinned by.
    public let fingerprint: String
    public let serialNumber: [UInt8]
    public let issuerName: [UInt8]
    public let subjectName: [UInt8]
    public let issuerCommonName: String
    public let subjectCommonName: String
    public let notBefore: Int64
    public let notAfter: Int64
    /// The SubjectPublicKeyInfo DER.
    public let subjectPublicKeyInfo: [UInt8]
    /// Extension values by dotted OID (the bytes inside the OCTET STRING).
    public let extensions: [String: [UInt8]]
    /// `basicConstraints.cA`, nil when the extension is absent.
    public let isCertificateAuthority: Bool?

    let tbs: [UInt8]
    let signatureAlgorithm: SignatureAlgorithm
    let signature: [UInt8]

    enum SignatureAlgorithm: Sendable, Equatable {
        case ecdsaSHA256, ecdsaSHA384, rsaPSSSHA384
    }

    public init(der: [UInt8]) throws {
        let root = try DERNode.parse(der, "certificate")
        let top = try DERNode.children(root, "certificate")
        guard top.count == 3 else { throw ArcaError(.invalidFormat, "certificate has \(top.count) top-level fields, not 3") }
        let tbsFields = try DERNode.children(top[0], "tbsCertificate")
        var index = 0
        if index < tbsFields.count, tbsFields[index].identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) {
            index += 1
        }
        guard tbsFields.count >= index + 6 else { throw ArcaError(.invalidFormat, "tbsCertificate is truncated") }
        let serial = try DERNode.integerBytes(tbsFields[index], "certificate serial number")
        let innerAlgorithm = try Self.signatureAlgorithm(tbsFields[index + 1])
        let issuer = tbsFields[index + 2]
        let validity = try DERNode.children(tbsFields[index + 3], "certificate validity")
        guard validity.count == 2 else { throw ArcaError(.invalidFormat, "certificate validity must hold two times") }
        let subject = tbsFields[index + 4]
        _ = try DERNode.children(issuer, "certificate issuer")
        _ = try DERNode.children(subject, "certificate subject")
        let spki = tbsFields[index + 5]
        _ = try DERNode.children(spki, "subjectPublicKeyInfo")

        var extensions: [String: [UInt8]] = [:]
        var isCA: Bool?
        for field in tbsFields[(index + 6)...] where field.identifier == ASN1Identifier(tagWithNumber: 3, tagClass: .contextSpecific) {
            guard case .constructed(let wrapped) = field.content, let list = Array(wrapped).first else {
                throw ArcaError(.invalidFormat, "certificate extensions are malformed")
            }
            for item in try DERNode.children(list, "certificate extension list") {
                let parts = try DERNode.children(item, "certificate extension")
                guard parts.count == 2 || parts.count == 3 else {
                    throw ArcaError(.invalidFormat, "certificate extension has \(parts.count) fields")
                }
                let oid = try DERNode.oid(parts[0], "extension id")
                let value = Array(try DERNode.primitive(parts[parts.count - 1], .octetString, "extension \(oid) value"))
                guard extensions[oid.description] == nil else {
                    throw ArcaError(.invalidFormat, "certificate repeats extension \(oid)")
                }
                extensions[oid.description] = value
                if oid == [2, 5, 29, 19] { isCA = try Self.basicConstraintsCA(value) }
            }
        }

        let outerAlgorithm = try Self.signatureAlgorithm(top[1])
        guard outerAlgorithm == innerAlgorithm else {
            throw ArcaError(.invalidFormat, "certificate signature algorithms inside and outside the signed part differ")
        }
        let bits = try DERNode.primitive(top[2], .bitString, "certificate signature")
        guard let unused = bits.first, unused == 0 else {
            throw ArcaError(.invalidFormat, "certificate signature bit string has unused bits")
        }

        self.der = der
        self.fingerprint = sha256Hex(der)
        self.serialNumber = serial
        self.issuerName = Array(issuer.encodedBytes)
        self.subjectName = Array(subject.encodedBytes)
        self.issuerCommonName = DERNode.commonName(issuer)
        self.subjectCommonName = DERNode.commonName(subject)
        self.notBefore = try DERNode.time(validity[0], "certificate notBefore")
        self.notAfter = try DERNode.time(validity[1], "certificate notAfter")
        self.subjectPublicKeyInfo = Array(spki.encodedBytes)
        self.extensions = extensions
        self.isCertificateAuthority = isCA
        self.tbs = Array(top[0].encodedBytes)
        self.signatureAlgorithm = outerAlgorithm
        self.signature = Array(bits.dropFirst())
    }

    /// A short name for messages: the quoted subject CN.
    public var name: String { subjectCommonName.isEmpty ? "an unnamed certificate" : "'\(subjectCommonName)'" }

    /// True when `issuer`'s key signed this certificate.
    public func isSigned(by issuer: VendorCertificate) -> Bool {
        issuer.verifies(signature: signature, algorithm: signatureAlgorithm, over: tbs)
    }

    /// Verifies a signature by this certificate's key over `message`.
    func verifies(signature: [UInt8], algorithm: SignatureAlgorithm, over message: [UInt8]) -> Bool {
        switch algorithm {
        case .ecdsaSHA256, .ecdsaSHA384:
            guard let ecdsa = try? ECDSAPublicKey(spki: subjectPublicKeyInfo) else { return false }
            return ecdsa.verifies(derSignature: signature, message: message, sha384: algorithm == .ecdsaSHA384)
        case .rsaPSSSHA384:
            guard let key = try? _RSA.Signing.PublicKey(derRepresentation: subjectPublicKeyInfo) else { return false }
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature),
                                        for: SHA384.hash(data: message), padding: .PSS)
        }
    }

    /// Verifies a raw r ‖ s ECDSA P-256/SHA-256 signature (Intel collateral, QE reports).
    public func verifiesRawP256(signature: [UInt8], over message: [UInt8]) -> Bool {
        guard case .p256(let key)? = try? ecdsaKey(),
              let sig = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
        return key.isValidSignature(sig, for: SHA256.hash(data: message))
    }

    /// The ECDSA public key of this certificate (Intel PCK / TCB signing, AMD VEK).
    func ecdsaKey() throws -> ECDSAPublicKey { try ECDSAPublicKey(spki: subjectPublicKeyInfo) }

    private static func basicConstraintsCA(_ value: [UInt8]) throws -> Bool {
        let fields = try DERNode.children(try DERNode.parse(value, "basicConstraints"), "basicConstraints")
        guard let first = fields.first, first.identifier == .boolean else { return false }
        let raw = try DERNode.primitive(first, .boolean, "basicConstraints.cA")
        return raw.first.map { $0 != 0 } ?? false
    }

    private static func signatureAlgorithm(_ node: ASN1Node) throws -> SignatureAlgorithm {
        let parts = try DERNode.children(node, "signature algorithm")
        guard let first = parts.first else { throw ArcaError(.invalidFormat, "signature algorithm is empty") }
        let oid = try DERNode.oid(first, "signature algorithm id")
        switch oid {
        case [1, 2, 840, 10045, 4, 3, 2]: return .ecdsaSHA256
        case [1, 2, 840, 10045, 4, 3, 3]: return .ecdsaSHA384
        case [1, 2, 840, 113549, 1, 1, 10]:
            guard parts.count == 2 else { throw ArcaError(.invalidFormat, "RSASSA-PSS algorithm has no parameters") }
            try checkPSSParameters(parts[1])
            return .rsaPSSSHA384
        default:
            throw ArcaError(.unsupported, "certificate signature algorithm \(oid) is not ECDSA or RSASSA-PSS/SHA-384")
        }
    }

    /// Accepts only SHA-384, MGF1(SHA-384), salt 48: what AMD uses and what BoringSSL's PSS check assumes.
    private static func checkPSSParameters(_ node: ASN1Node) throws {
        let sha384: ASN1ObjectIdentifier = [2, 16, 840, 1, 101, 3, 4, 2, 2]
        var hash: ASN1ObjectIdentifier?
        var mgfHash: ASN1ObjectIdentifier?
        var salt = 20
        for field in try DERNode.children(node, "RSASSA-PSS parameters") {
            guard case .constructed(let inner) = field.content, let value = Array(inner).first else {
                throw ArcaError(.invalidFormat, "RSASSA-PSS parameter is malformed")
            }
            switch field.identifier {
            case ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific):
                hash = try DERNode.oid(try DERNode.children(value, "PSS hash").first ?? value, "PSS hash")
            case ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific):
                let mgf = try DERNode.children(value, "PSS mask generation")
                guard mgf.count == 2, try DERNode.oid(mgf[0], "PSS MGF") == [1, 2, 840, 113549, 1, 1, 8] else {
                    throw ArcaError(.unsupported, "RSASSA-PSS mask generation is not MGF1")
                }
                mgfHash = try DERNode.oid(try DERNode.children(mgf[1], "MGF1 hash").first ?? mgf[1], "MGF1 hash")
            case ASN1Identifier(tagWithNumber: 2, tagClass: .contextSpecific):
                salt = try DERNode.smallInteger(value, "PSS salt length")
            default:
                continue
            }
        }
        guard hash == sha384, mgfHash == sha384, salt == 48 else {
            throw ArcaError(.unsupported, "RSASSA-PSS parameters are not SHA-384 / MGF1-SHA-384 / salt 48")
        }
    }
}

/// A P-256 or P-384 ECDSA public key.
enum ECDSAPublicKey {
    case p256(P256.Signing.PublicKey)
    case p384(P384.Signing.PublicKey)

    init(spki: [UInt8]) throws {
        if let key = try? P256.Signing.PublicKey(derRepresentation: spki) { self = .p256(key); return }
        if let key = try? P384.Signing.PublicKey(derRepresentation: spki) { self = .p384(key); return }
        throw ArcaError(.unsupported, "certificate key is not an ECDSA P-256 or P-384 key")
    }

    func verifies(derSignature: [UInt8], message: [UInt8], sha384: Bool) -> Bool {
        switch self {
        case .p256(let key):
            guard let sig = try? P256.Signing.ECDSASignature(derRepresentation: derSignature) else { return false }
            return sha384 ? key.isValidSignature(sig, for: SHA384.hash(data: message))
                          : key.isValidSignature(sig, for: SHA256.hash(data: message))
        case .p384(let key):
            guard let sig = try? P384.Signing.ECDSASignature(derRepresentation: derSignature) else { return false }
            return sha384 ? key.isValidSignature(sig, for: SHA384.hash(data: message))
                          : key.isValidSignature(sig, for: SHA256.hash(data: message))
        }
    }
}
