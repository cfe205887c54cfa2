import ArcaCore
import Crypto
import FoundationEssentials

/// Produces `sim` evidence with the host's platform signing key (the PEM file named by
/// `ARCA_PLATFORM_KEY`). Runs inside `arca-init`, so it stays free of any server stack.
public struct SimEvidenceProducer: Sendable {
    /// The environment variable naming the platform key file at run time.
    public static let keyEnvironmentVariable = "ARCA_PLATFORM_KEY"

    private let privateKey: P256.Signing.PrivateKey

    public init(privateKey: P256.Signing.PrivateKey) {
        self.privateKey = privateKey
    }

    /// Loads a PEM (PKCS#8 or SEC1) P-256 private key.
    public init(pemFile path: String) throws {
        let bytes = try FileSystem.readFile(path, limit: 64 * 1024)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ArcaError(.invalidFormat, "platform key \(path) is not a text pem file")
        }
        do {
            self.privateKey = try P256.Signing.PrivateKey(pemRepresentation: text)
        } catch {
            throw ArcaError(.invalidFormat, "platform key \(path) is not a p-256 private key in pem form")
        }
    }

    /// The ID the keeper knows this platform by.
    public var platformKeyID: String { SimPlatform.keyID(of: privateKey.publicKey) }

    public var publicKey: P256.Signing.PublicKey { privateKey.publicKey }

    /// Signs a statement of `measurement` (32 bytes) and `reportData` (64 bytes).
    public func produce(measurement: [UInt8], reportData: [UInt8], signer: String? = nil, version: UInt64? = nil) throws -> [UInt8] {
        guard measurement.count == 32 else {
            throw ArcaError(.invalidArgument, "measurement is \(measurement.count) bytes, expected 32")
        }
        guard reportData.count == 64 else {
            throw ArcaError(.invalidArgument, "report data is \(reportData.count) bytes, expected 64")
        }
        let body = SimEvidenceBody(measurement: Hex.encode(measurement), reportData: Hex.encode(reportData),
                                   platformKeyID: platformKeyID, signer: signer, version: version)
        return try Self.sign(body, with: privateKey)
    }

    /// Signs an arbitrary body (tests use it to forge malformed statements with a real key).
    public static func sign(_ body: SimEvidenceBody, with key: P256.Signing.PrivateKey) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let bodyBytes = try encoder.encode(body)
        let signature = try key.signature(for: bodyBytes)
        let envelope = SimEvidenceEnvelope(body: bodyBytes.base64EncodedString(),
                                           signature: signature.derRepresentation.base64EncodedString())
        return Array(try encoder.encode(envelope))
    }
}
