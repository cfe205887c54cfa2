import ArcaKeeperAPI
import Crypto
import Testing

/// The one-time P-256 keys of the release envelope (made from random scalars).
@Suite struct ReleaseEnvelopeKeyTests {
    @Test func keysAreFreshValidAndOpenWhatIsSealedToThem() throws {
        var seen = Set<[UInt8]>()
        for _ in 0..<16 {
            let key = try ReleaseEnvelope.makeEphemeralKey()
            #expect(key.rawRepresentation.count == 32)
            // The public key is a valid point (it round-trips through the checked x963 parser).
            let publicKey = Array(key.publicKey.x963Representation)
            #expect(try P256.KeyAgreement.PublicKey(x963Representation: publicKey).x963Representation == key.publicKey.x963Representation)
            #expect(seen.insert(publicKey).inserted)
        }
        let runtime = try ReleaseEnvelope.makeEphemeralKey()
        let nonce = [UInt8](repeating: 5, count: 32)
        let sealed = try ReleaseEnvelope.seal(Array("payload".utf8), to: runtime.publicKey, nonce: nonce)
        #expect(try ReleaseEnvelope.open(sealed.ciphertext, keeperPublicKey: sealed.ephemeralPublicKey,
                                         privateKey: runtime, nonce: nonce) == Array("payload".utf8))
        // Another ephemeral key cannot open it.
        #expect(throws: (any Error).self) {
            _ = try ReleaseEnvelope.open(sealed.ciphertext, keeperPublicKey: sealed.ephemeralPublicKey,
                                         privateKey: try ReleaseEnvelope.makeEphemeralKey(), nonce: nonce)
        }
    }
}
