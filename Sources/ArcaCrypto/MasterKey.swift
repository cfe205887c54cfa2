import ArcaCore
import Crypto

/// The 32-byte image master key. It never prints its bytes: `description` shows only its key id.
public struct MasterKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The key length in bytes (AES-256 / HKDF-SHA256 input).
    public static let byteCount = 32

    let key: SymmetricKey

    /// Wraps 32 key bytes; any other length is refused (without echoing the bytes).
    public init(bytes: [UInt8]) throws {
        guard bytes.count == Self.byteCount else {
            throw ArcaError(.invalidArgument, "a master key is \(Self.byteCount) bytes, not \(bytes.count)")
        }
        key = SymmetricKey(data: bytes)
    }

    /// A fresh random key from the system generator.
    public static func generate() -> MasterKey {
        MasterKey(key: SymmetricKey(size: .bits256))
    }

    private init(key: SymmetricKey) { self.key = key }

    /// A public identifier of the key: the first 16 bytes of `SHA-256("arca-key-id/1\0" ‖ key)`,
    /// in hex. Safe to print and log; it reveals nothing about the key.
    public var id: String {
        var hasher = SHA256()
        hasher.update(data: Array("arca-key-id/1".utf8) + [0])
        key.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return String(Hex.encode(hasher.finalize()).prefix(32))
    }

    public var description: String { "MasterKey(id: \(id))" }
    public var debugDescription: String { description }
    /// `dump(key)` and debuggers see the key id only.
    public var customMirror: Mirror { Mirror(self, children: ["id": id], displayStyle: .struct) }

    /// Gives temporary access to the key bytes (for writing a key file); do not keep them.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try key.withUnsafeBytes(body)
    }
}
