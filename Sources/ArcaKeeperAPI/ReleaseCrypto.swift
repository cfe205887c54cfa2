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
        let ephemeral = try makeEphemeralKey()
        let key = try deriveKey(ephemeral.sharedSecretFromKeyAgreement(with: recipient), nonce: nonce)
        let box = try AES.GCM.seal(plaintext, using: key)
        guard let combined = box.combined else {
            throw ArcaError(.invalidArgument, "aes-gcm produced no combined form")
        }
        return (Array(ephemeral.publicKey.x963Representation), Array(combined))
    }

    /// A fresh P-256 key-agreement key for one release (the keeper's side, and the runtime's
    /// ephemeral key), made from 32 bytes of the system generator.
    ///
    /// `P256.KeyAgreement.PrivateKey()` costs several times more: it asks for a key whose public
    /// point is compact-representable (half of all keys, so two generations on average) and runs
    /// FIPS's pairwise consistency check (an ECDSA sign and verify) on each. A uniformly random
    /// scalar is as good a one-time key; a draw outside [1, n-1] (probability about 2^-32) is
    /// refused by the key constructor and drawn again.
    public static func makeEphemeralKey() throws -> P256.KeyAgreement.PrivateKey {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<8 {
            var scalar = [UInt8](repeating: 0, count: 32)
            scalar.withUnsafeMutableBytes { buffer in
                for offset in stride(from: 0, to: 32, by: 8) {
                    buffer.storeBytes(of: rng.next() as UInt64, toByteOffset: offset, as: UInt64.self)
                }
            }
            defer { for i in scalar.indices { scalar[i] = 0 } }
            if let key = try? P256.KeyAgreement.PrivateKey(rawRepresentation: scalar) { return key }
        }
        throw ArcaError(.integrity, "the system random generator gave 8 p-256 scalars out of range in a row")
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
