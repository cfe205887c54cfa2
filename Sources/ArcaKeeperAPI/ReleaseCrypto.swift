import ArcaCore
import Crypto
import FoundationEssentials

/// Sealing the release to the runtime's ephemeral P-256 key: ECDH with a fresh keeper key,
/// HKDF-SHA256 (salt = nonce, info = "arca-release-v1") to an AES-256-GCM key.
public enum ReleaseEnvelope {
    public static let info = Array("arca-release-v1".utf8)

    /// Encrypts `plaintext` to `recipient`; returns the keeper's ephemeral public key (x963) and
    /// the AES-GCM combined ciphertext.
    public static func seal(_ plaintext: [UInt8], to recipient: P256.KeyAgreement.PublicKey, nonce: [UInt8])
        throws -> (ephemeralPublicKey: [UInt8], ciphertext: [UInt8]) {
        let ephemeral = P256.KeyAgreement.PrivateKey()
        let key = try deriveKey(ephemeral.sharedSecretFromKeyAgreement(with: recipient), nonce: nonce)
        let box = try AES.GCM.seal(plaintext, using: key)
        guard let combined = box.combined else {
            throw ArcaError(.invalidArgument, "aes-gcm produced no combined form")
        }
        return (Array(ephemeral.publicKey.x963Representation), Array(combined))
    }

    /// Decrypts a release with the runtime's ephemeral private key.
    public static func open(_ ciphertext: [UInt8], keeperPublicKey: [UInt8], privateKey: P256.KeyAgreement.PrivateKey,
                            nonce: [UInt8]) throws -> [UInt8] {
        do {
            let peer = try P256.KeyAgreement.PublicKey(x963Representation: keeperPublicKey)
            let key = try deriveKey(privateKey.sharedSecretFromKeyAgreement(with: peer), nonce: nonce)
            return Array(try AES.GCM.open(AES.GCM.SealedBox(combined: ciphertext), using: key))
        } catch {
            throw ArcaError(.integrity, "release does not decrypt with this ephemeral key and nonce", cause: error)
        }
    }

    private static func deriveKey(_ secret: SharedSecret, nonce: [UInt8]) throws -> SymmetricKey {
        secret.hkdfDerivedSymmetricKey(using: SHA256.self, salt: nonce, sharedInfo: info, outputByteCount: 32)
    }
}
