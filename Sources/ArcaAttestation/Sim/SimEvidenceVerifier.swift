import ArcaCore
import Crypto
import FoundationEssentials

/// Verifies `sim` evidence against the platform keys an admin registered with the keeper.
/// `measurements` carries `arca` (and `mrsigner`/`isvsvn` when the statement names a signer).
public struct SimEvidenceVerifier: EvidenceVerifier {
    public var kind: EvidenceKind { .sim }
    private let platformKeys: [String: P256.Signing.PublicKey]

    /// - Parameter platformKeys: registered platform public keys by `SimPlatform.keyID`.
    public init(platformKeys: [String: P256.Signing.PublicKey]) {
        self.platformKeys = platformKeys
    }

    public func verify(_ evidence: [UInt8], at time: Date) throws -> VerifiedEvidence {
        let (body, bodyBytes, signatureBytes) = try SimPlatform.decode(evidence)
        guard let key = platformKeys[body.platformKeyID] else {
            throw ArcaError(.notFound, "sim platform key \(body.platformKeyID.prefix(64)) is not registered")
        }
        let signature: P256.Signing.ECDSASignature
        do {
            signature = try P256.Signing.ECDSASignature(derRepresentation: signatureBytes)
        } catch {
            throw ArcaError(.invalidFormat, "sim evidence signature is not a der ecdsa signature")
        }
        guard key.isValidSignature(signature, for: bodyBytes) else {
            throw ArcaError(.integrity, "sim evidence signature does not verify with platform key \(body.platformKeyID)")
        }
        guard let measurement = Hex.decode(body.measurement), measurement.count == 32, body.measurement == body.measurement.lowercased() else {
            throw ArcaError(.invalidFormat, "sim evidence measurement is not 64 lowercase hex digits")
        }
        guard let reportData = Hex.decode(body.reportData), reportData.count == 64 else {
            throw ArcaError(.invalidFormat, "sim evidence report data is not 128 hex digits")
        }
        var measurements = ["arca": body.measurement]
        if let signer = body.signer {
            guard let bytes = Hex.decode(signer), !bytes.isEmpty, bytes.count <= 64 else {
                throw ArcaError(.invalidFormat, "sim evidence signer is not 1 to 64 bytes of hex")
            }
            measurements["mrsigner"] = Hex.encode(bytes)
            measurements["isvsvn"] = String(body.version ?? 0)
        }
        return VerifiedEvidence(kind: .sim, reportData: reportData, measurements: measurements, debug: false,
                                tcbStatus: nil, advisories: [], platform: body.platformKeyID)
    }
}
