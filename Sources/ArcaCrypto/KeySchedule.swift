import ArcaCore
import Crypto
import FoundationEssentials

/// The key hierarchy of shield format version 1 (docs/FORMAT.md §2): HKDF-SHA256 sub-keys of the
/// master key and the HMAC commitments that make every (key, nonce) pair protect one input only.
public struct KeySchedule: Sendable {
    /// The format version that the derivation labels and additional data bind.
    public static let formatVersion: UInt16 = 1

    private static let salt = Array("arca-shield".utf8)
    private static let infoPrefix = Array("arca-shield/1 ".utf8)

    private let master: SymmetricKey
    private let idKey: SymmetricKey

    public init(masterKey: MasterKey) {
        master = masterKey.key
        idKey = Self.derive(master, label: "id-key", context: [])
    }

    private static func derive(_ master: SymmetricKey, label: String, context: [UInt8]) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: master, salt: salt,
                               info: infoPrefix + Array(label.utf8) + context, outputByteCount: 32)
    }

    /// The AES-256-GCM key of the blob whose stream has identity `streamId`.
    public func streamKey(streamId: Hash256) -> SymmetricKey {
        Self.derive(master, label: "stream-key", context: streamId.bytes)
    }

    /// The AES-256-GCM key of the encrypted index section whose commitment is `secretId`.
    public func indexKey(secretId: Hash256) -> SymmetricKey {
        Self.derive(master, label: "index-key", context: secretId.bytes)
    }

    /// `streamId = HMAC(K_id, "stream" ‖ u32 C ‖ u64 streamSize ‖ u64 n ‖ D_0 ‖ … ‖ D_{n-1})`, a
    /// commitment to every zero-padded plaintext chunk of the stream.
    public func streamId(chunkSize: Int, streamSize: UInt64, chunkDigests: [Hash256]) -> Hash256 {
        var mac = HMAC<SHA256>(key: idKey)
        var head = Array("stream".utf8)
        head.appendBigEndian(UInt32(chunkSize))
        head.appendBigEndian(streamSize)
        head.appendBigEndian(UInt64(chunkDigests.count))
        mac.update(data: head)
        for digest in chunkDigests { mac.update(data: digest.bytes) }
        return Hash256(mac.finalize())
    }

    /// `secretId = HMAC(K_id, "index" ‖ SHA-256(aad) ‖ plaintext)`, a commitment to the padded
    /// plaintext of the encrypted index section and to its additional data.
    public func secretId(additionalData: UnsafeRawBufferPointer, plaintext: UnsafeRawBufferPointer) -> Hash256 {
        var mac = HMAC<SHA256>(key: idKey)
        mac.update(data: Array("index".utf8))
        mac.update(data: ChunkHasher.digest(additionalData).bytes)
        mac.update(data: plaintext)
        return Hash256(mac.finalize())
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` in big-endian byte order.
    public mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        var big = value.bigEndian
        Swift.withUnsafeBytes(of: &big) { append(contentsOf: $0) }
    }
}
