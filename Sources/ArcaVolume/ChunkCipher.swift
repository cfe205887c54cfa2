import ArcaCore
import ArcaCrypto
import Crypto
import FoundationEssentials

/// Where one sealed chunk lives and what it must be: the write that produced it (session and
/// counter: the key and the nonce), the volume version it was written for, its plaintext length,
/// its GCM tag, and its place in a segment file (`segments/<hex u64 segment>`, bytes
/// `offset ..< offset + length + 16`). The metadata holds one per chunk, so the root hash covers
/// every chunk.
public struct ChunkReference: Sendable, Hashable {
    public var session: [UInt8]
    public var counter: UInt64
    public var writeVersion: UInt64
    public var length: UInt32
    public var tag: [UInt8]
    public var segment: UInt64 = 0
    public var offset: UInt64 = 0

    /// The sealed chunk's size in its segment: ciphertext ‖ tag.
    public var sealedSize: Int { Int(length) + ChunkCipher.tagSize }

    /// For messages: the segment and the offset.
    public var location: String { "segment \(ChunkReference.segmentName(segment)) offset \(offset)" }

    /// A segment file's name under `segments/`: 16 lowercase hex digits of its number.
    public static func segmentName(_ segment: UInt64) -> String {
        var bytes: [UInt8] = []
        bytes.appendBigEndian(segment)
        return Hex.encode(bytes)
    }
}

/// AES-256-GCM of volume chunks. Chunk keys come from the write session; the nonce is
/// `u32 0 ‖ u64 counter`, unique within a session; additional data binds the volume, the file
/// identity, the chunk index, the volume version and the plaintext length, so a chunk moved to
/// another file, index or volume, or kept from an older version, fails to open.
public struct ChunkCipher: Sendable {
    public static let tagSize = 16
    /// Chunk writes per session key; a session is replaced before reaching it (SP 800-38D's
    /// 2^32 bound on invocations of one key).
    public static let sessionLimit: UInt64 = 1 << 32

    let keys: VolumeKeys

    public init(keys: VolumeKeys) { self.keys = keys }

    public func additionalData(fileId: [UInt8], index: UInt64, writeVersion: UInt64, length: UInt32) -> [UInt8] {
        var aad: [UInt8] = Array("arca-volume/1 chunk".utf8)
        aad.appendBigEndian(VolumeKeys.formatVersion)
        aad += keys.volumeId
        aad += fileId
        aad.appendBigEndian(index)
        aad.appendBigEndian(writeVersion)
        aad.appendBigEndian(length)
        return aad
    }

    public static func nonce(counter: UInt64) -> [UInt8] {
        var nonce: [UInt8] = [0, 0, 0, 0]
        nonce.appendBigEndian(counter)
        return nonce
    }

    /// Seals `plaintext`; returns the sealed bytes (ciphertext ‖ tag) and its reference (segment
    /// and offset 0: the caller places it).
    public func seal(_ plaintext: [UInt8], key: SymmetricKey, session: [UInt8], counter: UInt64, fileId: [UInt8],
                     index: UInt64, writeVersion: UInt64) throws -> (bytes: [UInt8], reference: ChunkReference) {
        var bytes: [UInt8] = []
        let reference = try seal(plaintext, key: key, session: session, counter: counter, fileId: fileId, index: index,
                                 writeVersion: writeVersion, appendingTo: &bytes)
        return (bytes, reference)
    }

    /// Seals `plaintext` into `output` (exactly `plaintext.count + tagSize` bytes: ciphertext ‖
    /// tag); returns its reference (segment and offset 0: the caller places it).
    public func seal(_ plaintext: [UInt8], key: SymmetricKey, session: [UInt8], counter: UInt64, fileId: [UInt8],
                     index: UInt64, writeVersion: UInt64, into output: UnsafeMutableRawBufferPointer) throws -> ChunkReference {
        precondition(output.count == plaintext.count + Self.tagSize, "sealed chunk buffer has the wrong size")
        let length = UInt32(plaintext.count)
        do {
            let box = try AES.GCM.seal(plaintext, using: key, nonce: try AES.GCM.Nonce(data: Self.nonce(counter: counter)),
                                       authenticating: additionalData(fileId: fileId, index: index, writeVersion: writeVersion, length: length))
            box.ciphertext.withUnsafeBytes { output.copyMemory(from: $0) }
            let tag = Array(box.tag)
            tag.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: output[plaintext.count...]).copyMemory(from: $0) }
            return ChunkReference(session: session, counter: counter, writeVersion: writeVersion, length: length, tag: tag)
        } catch {
            throw ArcaError(.io, "cannot seal volume chunk \(index): \(error)")
        }
    }

    /// Seals `plaintext`, appending ciphertext ‖ tag to `buffer`; returns its reference (segment
    /// 0, offset: where it starts in `buffer`).
    public func seal(_ plaintext: [UInt8], key: SymmetricKey, session: [UInt8], counter: UInt64, fileId: [UInt8],
                     index: UInt64, writeVersion: UInt64, appendingTo buffer: inout [UInt8]) throws -> ChunkReference {
        let length = UInt32(plaintext.count)
        do {
            let box = try AES.GCM.seal(plaintext, using: key, nonce: try AES.GCM.Nonce(data: Self.nonce(counter: counter)),
                                       authenticating: additionalData(fileId: fileId, index: index, writeVersion: writeVersion, length: length))
            let tag = Array(box.tag)
            let offset = UInt64(buffer.count)
            buffer.append(contentsOf: box.ciphertext)
            buffer.append(contentsOf: tag)
            return ChunkReference(session: session, counter: counter, writeVersion: writeVersion, length: length, tag: tag,
                                  segment: 0, offset: offset)
        } catch {
            throw ArcaError(.io, "cannot seal volume chunk \(index): \(error)")
        }
    }

    /// Opens a sealed chunk's bytes against its reference; throws `integrity` unless the length,
    /// the tag and the authentication all match.
    public func open(_ sealed: ArraySlice<UInt8>, key: SymmetricKey, reference: ChunkReference, fileId: [UInt8], index: UInt64) throws -> [UInt8] {
        Array(try openData(sealed, key: key, reference: reference, fileId: fileId, index: index))
    }

    /// `open`, returning the plaintext as CryptoKit produced it (one copy less for a caller that
    /// only copies it on).
    public func openData(_ sealed: ArraySlice<UInt8>, key: SymmetricKey, reference: ChunkReference, fileId: [UInt8], index: UInt64) throws -> Data {
        let expected = Int(reference.length) + Self.tagSize
        guard sealed.count == expected else {
            throw ArcaError(.integrity, "volume chunk \(index) (\(reference.location)) is \(sealed.count) bytes, expected \(expected)")
        }
        let split = sealed.startIndex + Int(reference.length)
        guard sealed[split...].elementsEqual(reference.tag) else {
            throw ArcaError(.integrity, "volume chunk \(index) (\(reference.location)) is not the chunk the metadata names")
        }
        do {
            let box = try AES.GCM.SealedBox(nonce: try AES.GCM.Nonce(data: Self.nonce(counter: reference.counter)),
                                            ciphertext: sealed[..<split], tag: sealed[split...])
            return try AES.GCM.open(box, using: key, authenticating: additionalData(
                fileId: fileId, index: index, writeVersion: reference.writeVersion, length: reference.length))
        } catch {
            throw ArcaError(.integrity, "volume chunk \(index) (\(reference.location)) fails authentication (changed, moved, or from another file)")
        }
    }
}
