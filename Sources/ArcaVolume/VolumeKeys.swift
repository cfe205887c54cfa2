import ArcaCore
import ArcaCrypto
import Crypto

/// The key hierarchy of a volume (docs/FORMAT.md, "Volumes"): HKDF-SHA256 sub-keys of the volume
/// master key, each bound to the volume id, so two volumes under one master key share no key.
public struct VolumeKeys: Sendable {
    /// The volume format version that labels and additional data bind.
    public static let formatVersion: UInt16 = 2
    static let idSize = 16

    public let volumeId: [UInt8]
    private let master: SymmetricKey

    public init(masterKey: MasterKey, volumeId: [UInt8]) throws {
        guard volumeId.count == Self.idSize else {
            throw ArcaError(.invalidArgument, "a volume id is \(Self.idSize) bytes, not \(volumeId.count)")
        }
        self.volumeId = volumeId
        master = masterKey.withUnsafeBytes { SymmetricKey(data: $0) }
    }

    private func derive(_ label: String, _ context: [UInt8]) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: master, salt: Array("arca-volume".utf8),
                               info: Array("arca-volume/1 ".utf8) + Array(label.utf8) + volumeId + context,
                               outputByteCount: 32)
    }

    /// The AES-256-GCM key of the chunks written in write session `session` (16 random bytes,
    /// fresh for every mount and every 2^32 chunk writes).
    public func chunkKey(session: [UInt8]) -> SymmetricKey { derive("chunk-key", session) }

    /// `chunkKey`, expanded for sealing and opening chunks.
    public func chunkCipherKey(session: [UInt8]) throws -> AESGCMKey { try AESGCMKey(chunkKey(session: session)) }

    /// The one-use AES-256-GCM key of the metadata file of `version` whose random salt is `salt`.
    public func metadataKey(version: UInt64, salt: [UInt8]) -> SymmetricKey {
        var context: [UInt8] = []
        context.appendBigEndian(version)
        return derive("metadata-key", context + salt)
    }

    /// A 16-byte public value that tells a wrong master key from a damaged volume.
    public var keyCheck: [UInt8] {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("key-check".utf8), using: derive("key-check", []))
        return Array(Array(mac).prefix(16))
    }
}
