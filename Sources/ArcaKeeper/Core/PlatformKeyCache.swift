import Crypto
import Synchronization

/// Parsed `sim` platform public keys by platform ID, each with the DER it was parsed from.
/// The platform row is still read for every release (the registry is the store's); this only
/// saves decoding and validating the same P-256 point again. Bounded like `SessionCache`.
final class PlatformKeyCache: Sendable {
    private let keys = Mutex<[String: (der: [UInt8], key: P256.Signing.PublicKey)]>([:])
    private let capacity = 1024

    /// The key for `der`, parsed on a miss; nil if `der` is not a P-256 public key.
    func key(id: String, der: [UInt8]) -> P256.Signing.PublicKey? {
        if let hit = keys.withLock({ table in table[id].flatMap { $0.der == der ? $0.key : nil } }) {
            return hit
        }
        guard let key = try? P256.Signing.PublicKey(derRepresentation: der) else { return nil }
        keys.withLock { table in
            if table.count >= capacity && table[id] == nil { table.removeAll() }
            table[id] = (der, key)
        }
        return key
    }
}
