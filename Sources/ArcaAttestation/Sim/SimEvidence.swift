import ArcaCore
import Crypto
import FoundationEssentials

/// `sim` evidence: a software-only statement "this runtime has measurement M and bound report
/// data R", signed by a platform key the host holds. It gives no protection against the host's
/// root; a session must allow it explicitly.
///
/// Wire form: JSON `{"body": base64(canonical body JSON), "signature": base64(DER ECDSA P-256/SHA-256 over body)}`.
public struct SimEvidenceBody: Codable, Sendable, Equatable {
    /// Always `sim`.
    public var kind: String
    /// The Arca measurement, 64 hex digits.
    public var measurement: String
    /// The 64-byte report data, 128 hex digits.
    public var reportData: String
    /// SHA-256 (hex) of the platform public key's SubjectPublicKeyInfo.
    public var platformKeyID: String
    /// Optional signer identity (hex) and version, for sessions that match by signer.
    public var signer: String?
    public var version: UInt64?

    public init(measurement: String, reportData: String, platformKeyID: String, signer: String? = nil, version: UInt64? = nil) {
        self.kind = EvidenceKind.sim.rawValue
        self.measurement = measurement
        self.reportData = reportData
        self.platformKeyID = platformKeyID
        self.signer = signer
        self.version = version
    }
}

/// The outer envelope of `sim` evidence.
struct SimEvidenceEnvelope: Codable {
    var body: String
    var signature: String
}

/// Helpers common to the producer and the verifier.
public enum SimPlatform {
    /// The largest `sim` evidence accepted, in bytes.
    public static let maximumEvidenceSize = 16 * 1024

    /// The ID of a platform key: SHA-256 (hex) of its SubjectPublicKeyInfo DER.
    public static func keyID(of publicKey: P256.Signing.PublicKey) -> String {
        sha256Hex(publicKey.derRepresentation)
    }

    /// Reads the body of `sim` evidence without checking its signature (to find which platform key
    /// to check it with). Never trust the result before `SimEvidenceVerifier.verify`.
    public static func unverifiedBody(of evidence: [UInt8]) throws -> SimEvidenceBody {
        try decode(evidence).body
    }

    static func decode(_ evidence: [UInt8]) throws -> (body: SimEvidenceBody, bodyBytes: [UInt8], signature: [UInt8]) {
        guard evidence.count <= maximumEvidenceSize else {
            throw ArcaError(.limitExceeded, "sim evidence is \(evidence.count) bytes, over the \(maximumEvidenceSize) limit")
        }
        let envelope: SimEvidenceEnvelope
        do {
            envelope = try JSONDecoder().decode(SimEvidenceEnvelope.self, from: Data(evidence))
        } catch {
            throw ArcaError(.invalidFormat, "sim evidence is not a {body, signature} json object")
        }
        // Canonical base64 only (re-encoding must give the same text): no malleable padding bits.
        guard let bodyData = Data(base64Encoded: envelope.body), let signature = Data(base64Encoded: envelope.signature),
              bodyData.base64EncodedString() == envelope.body, signature.base64EncodedString() == envelope.signature else {
            throw ArcaError(.invalidFormat, "sim evidence body or signature is not canonical base64")
        }
        let body: SimEvidenceBody
        do {
            body = try JSONDecoder().decode(SimEvidenceBody.self, from: bodyData)
        } catch {
            throw ArcaError(.invalidFormat, "sim evidence body is not valid json")
        }
        guard body.kind == EvidenceKind.sim.rawValue else {
            throw ArcaError(.invalidFormat, "sim evidence body has kind \(body.kind.prefix(32)), expected sim")
        }
        return (body, Array(bodyData), Array(signature))
    }
}
