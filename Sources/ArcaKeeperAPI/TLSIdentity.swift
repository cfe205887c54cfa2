import ArcaCore
import Crypto
import FoundationEssentials
import SwiftASN1
import X509

/// A self-signed P-256 TLS identity (the keeper's server identity, or a CLI's client identity),
/// kept as two PEM files: `NAME.key` (0600) and `NAME.crt`. Peers are recognised by the pin:
/// SHA-256 (hex) of the certificate's SubjectPublicKeyInfo, not by a CA.
public struct TLSIdentity: Sendable {
    public let privateKeyPEM: String
    public let certificatePEM: String
    /// SHA-256 (hex) of the SubjectPublicKeyInfo: what `--keeper-pin` takes, and a client's owner ID.
    public let pin: String

    /// Loads `directory/name.key` and `.crt`, creating them on first use. Returns whether it created them.
    public static func loadOrCreate(directory: String, name: String, commonName: String,
                                    now: Date = Date()) throws -> (identity: TLSIdentity, created: Bool) {
        let keyPath = "\(directory)/\(name).key"
        let certPath = "\(directory)/\(name).crt"
        if FileSystem.exists(keyPath) && FileSystem.exists(certPath) {
            let key = String(decoding: try FileSystem.readFile(keyPath, limit: 64 * 1024), as: UTF8.self)
            let cert = String(decoding: try FileSystem.readFile(certPath, limit: 64 * 1024), as: UTF8.self)
            return (try TLSIdentity(privateKeyPEM: key, certificatePEM: cert), false)
        }
        try FileSystem.makeDirectories(directory, permissions: 0o700)
        let identity = try generate(commonName: commonName, now: now)
        try FileSystem.writeAtomically(Array(identity.privateKeyPEM.utf8), to: keyPath, permissions: [.ownerReadWrite])
        try FileSystem.writeAtomically(Array(identity.certificatePEM.utf8), to: certPath)
        return (identity, true)
    }

    /// A fresh key and a self-signed certificate valid for ten years.
    public static func generate(commonName: String, now: Date = Date()) throws -> TLSIdentity {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName(commonName) }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(10 * 365 * 86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                SubjectAlternativeNames([.dnsName("localhost"), .dnsName(commonName)])
            },
            issuerPrivateKey: Certificate.PrivateKey(key))
        return try TLSIdentity(privateKeyPEM: key.pemRepresentation, certificatePEM: certificate.serializeAsPEM().pemString)
    }

    public init(privateKeyPEM: String, certificatePEM: String) throws {
        self.privateKeyPEM = privateKeyPEM
        self.certificatePEM = certificatePEM
        do {
            let certificate = try Certificate(pemEncoded: certificatePEM)
            pin = try Self.pin(of: certificate)
        } catch {
            throw ArcaError(.invalidFormat, "tls certificate is not a pem x.509 certificate", cause: error)
        }
    }

    /// The pin of a certificate: SHA-256 (hex) of its SubjectPublicKeyInfo DER.
    public static func pin(of certificate: Certificate) throws -> String {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate.publicKey)
        return sha256Hex(serializer.serializedBytes)
    }

    /// The pin of a DER certificate.
    public static func pin(ofCertificateDER der: [UInt8]) throws -> String {
        try pin(of: Certificate(derEncoded: der))
    }

    /// Checks a `--keeper-pin` value: 64 lowercase hex digits (a `sha256:` prefix is accepted).
    public static func normalisePin(_ text: String) throws -> String {
        let value = text.hasPrefix("sha256:") ? String(text.dropFirst(7)) : text
        guard let bytes = Hex.decode(value), bytes.count == 32 else {
            throw ArcaError(.invalidArgument, "keeper pin \(text.prefix(80)) is not a sha-256 fingerprint (64 hex digits)")
        }
        return Hex.encode(bytes)
    }
}
