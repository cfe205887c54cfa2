import Crypto

/// Key bytes for comparing derived keys in tests (never printed).
struct SymmetricKeyBytes {
    let value: [UInt8]
    init(_ key: SymmetricKey) { value = key.withUnsafeBytes { Array($0) } }
}
