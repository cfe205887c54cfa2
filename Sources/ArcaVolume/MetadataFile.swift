import ArcaCore
import ArcaCrypto
import Crypto
import FoundationEssentials

/// The sealed metadata file of one volume version (`meta/<version as 16 hex digits>`):
/// `"ARCAVOLM" ‖ u16 format ‖ volume id ‖ u64 version ‖ u32 chunk size ‖ salt[32] ‖ u64 n ‖
/// ciphertext[n] ‖ tag[16]`. The header is the additional data; the key is used once (random salt),
/// so the nonce is zero. Its SHA-256 is the version's root hash, the value anchored.
enum MetadataFile {
    static let magic = Array("ARCAVOLM".utf8)
    static let headerSize = 8 + 2 + 16 + 8 + 4 + 32 + 8
    static let maximumSize = 1 << 30

    static func seal(tree: VolumeTree, keys: VolumeKeys, version: UInt64, chunkSize: Int) throws -> [UInt8] {
        let salt = randomBytes(32)
        let plaintext = tree.encoded()
        var w = ByteWriter()
        w.fixed(magic)
        w.u16(VolumeKeys.formatVersion)
        w.fixed(keys.volumeId)
        w.u64(version)
        w.u32(UInt32(chunkSize))
        w.fixed(salt)
        w.u64(UInt64(plaintext.count))
        let header = w.bytes
        do {
            let box = try AES.GCM.seal(plaintext, using: keys.metadataKey(version: version, salt: salt),
                                       nonce: try AES.GCM.Nonce(data: [UInt8](repeating: 0, count: 12)), authenticating: header)
            var file = header
            file.reserveCapacity(header.count + plaintext.count + ChunkCipher.tagSize)
            file.append(contentsOf: box.ciphertext)
            file.append(contentsOf: box.tag)
            return file
        } catch {
            throw ArcaError(.io, "cannot seal volume metadata version \(version): \(error)")
        }
    }

    /// Opens a metadata file that must be `version` of this volume; `integrity` on any mismatch.
    static func open(_ bytes: [UInt8], keys: VolumeKeys, version: UInt64, chunkSize: Int) throws -> VolumeTree {
        var r = ByteReader(bytes, what: "volume metadata file version \(version)")
        guard try r.fixed(8) == magic else { throw ArcaError(.integrity, "volume metadata version \(version) has no ARCAVOLM magic") }
        let format = try r.u16()
        guard format == VolumeKeys.formatVersion else {
            throw ArcaError(.unsupported, "volume metadata format \(format) is not supported (only \(VolumeKeys.formatVersion))")
        }
        let volumeId = try r.fixed(16), stored = try r.u64(), storedChunk = try r.u32()
        guard volumeId == keys.volumeId, stored == version, storedChunk == UInt32(chunkSize) else {
            throw ArcaError(.integrity, "volume metadata file for version \(version) belongs to version \(stored) or another volume")
        }
        let salt = try r.fixed(32)
        let length = try r.u64()
        guard length == UInt64(r.remaining - min(r.remaining, ChunkCipher.tagSize)), r.remaining >= ChunkCipher.tagSize else {
            throw ArcaError(.integrity, "volume metadata version \(version) is \(bytes.count) bytes, not what its header says")
        }
        let header = Array(bytes[..<headerSize])
        let split = headerSize + Int(length)
        let plaintext: [UInt8]
        do {
            let box = try AES.GCM.SealedBox(nonce: try AES.GCM.Nonce(data: [UInt8](repeating: 0, count: 12)),
                                            ciphertext: bytes[headerSize..<split], tag: bytes[split...])
            plaintext = Array(try AES.GCM.open(box, using: keys.metadataKey(version: version, salt: salt), authenticating: header))
        } catch {
            throw ArcaError(.integrity, "volume metadata version \(version) fails authentication (wrong key, or changed)")
        }
        return try VolumeTree.decode(plaintext, chunkSize: chunkSize)
    }

    static func name(version: UInt64) -> String {
        var bytes: [UInt8] = []
        bytes.appendBigEndian(version)
        return Hex.encode(bytes)
    }
}

/// The plaintext volume header (`volume`): `"ARCAVOLH" ‖ u16 format ‖ volume id ‖ u32 chunk size ‖
/// key check[16]`. Changing it only makes every key wrong; the key check turns that into a clear error.
struct VolumeHeader: Equatable {
    static let magic = Array("ARCAVOLH".utf8)
    static let size = 8 + 2 + 16 + 4 + 16
    var volumeId: [UInt8]
    var chunkSize: Int
    var keyCheck: [UInt8]

    func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.fixed(Self.magic)
        w.u16(VolumeKeys.formatVersion)
        w.fixed(volumeId)
        w.u32(UInt32(chunkSize))
        w.fixed(keyCheck)
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> VolumeHeader {
        guard bytes.count == size else { throw ArcaError(.invalidFormat, "the volume header is \(bytes.count) bytes, not \(size)") }
        var r = ByteReader(bytes, what: "volume header")
        guard try r.fixed(8) == magic else { throw ArcaError(.invalidFormat, "the volume header has no ARCAVOLH magic") }
        let format = try r.u16()
        guard format == VolumeKeys.formatVersion else {
            throw ArcaError(.unsupported, "volume format \(format) is not supported (only \(VolumeKeys.formatVersion))")
        }
        let id = try r.fixed(16)
        let chunk = try r.u32()
        guard Volume.allowedChunkSizes.contains(Int(chunk)) else {
            throw ArcaError(.invalidFormat, "the volume chunk size \(chunk) is not one of \(Volume.allowedChunkSizes.sorted())")
        }
        return VolumeHeader(volumeId: id, chunkSize: Int(chunk), keyCheck: try r.fixed(16))
    }
}

func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
}
