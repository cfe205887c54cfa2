import ArcaCore
import ArcaCrypto

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
        String(unsafeUninitializedCapacity: 16) { name in  // every read names its segments: no arrays
            for k in 0..<16 { name[k] = hexDigits[Int(truncatingIfNeeded: segment >> (60 - 4 * k)) & 0xf] }
            return 16
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}

/// AES-256-GCM of volume chunks. Chunk keys come from the write session; the nonce is
/// `u32 0 ‖ u64 counter`, unique within a session; additional data binds the volume, the file
/// identity, the chunk index, the volume version and the plaintext length, so a chunk moved to
/// another file, index or volume, or kept from an older version, fails to open.
///
/// Keys are `AESGCMKey`s (the schedule expanded once per session) and chunks are sealed and
/// opened in the caller's memory: a 4 KiB random read opens a whole chunk, and the cost around
/// the cipher (contexts, copies) was larger than the cipher's.
public struct ChunkCipher: Sendable {
    public static let tagSize = AESGCMKey.tagSize
    /// Chunk writes per session key; a session is replaced before reaching it (SP 800-38D's
    /// 2^32 bound on invocations of one key).
    public static let sessionLimit: UInt64 = 1 << 32

    let keys: VolumeKeys
    /// The start of every chunk's additional data: label, format version, volume id.
    private let additionalDataPrefix: [UInt8]

    public init(keys: VolumeKeys) {
        self.keys = keys
        var prefix: [UInt8] = Array("arca-volume/1 chunk".utf8)
        prefix.appendBigEndian(VolumeKeys.formatVersion)
        additionalDataPrefix = prefix + keys.volumeId
    }

    public func additionalData(fileId: [UInt8], index: UInt64, writeVersion: UInt64, length: UInt32) -> [UInt8] {
        var aad = additionalDataPrefix
        aad.reserveCapacity(aad.count + fileId.count + 20)
        aad += fileId
        aad.appendBigEndian(index)
        aad.appendBigEndian(writeVersion)
        aad.appendBigEndian(length)
        return aad
    }

    /// Calls `body` with the 12-byte nonce of `counter`: `u32 0 ‖ u64 counter`, big-endian.
    static func withNonce<Result>(counter: UInt64, _ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        var words: (UInt32, UInt32, UInt32) = (0, UInt32(truncatingIfNeeded: counter >> 32).bigEndian,
                                              UInt32(truncatingIfNeeded: counter).bigEndian)
        return try withUnsafeBytes(of: &words, body)
    }

    /// Seals `plaintext`; returns the sealed bytes (ciphertext ‖ tag) and its reference (segment
    /// and offset 0: the caller places it).
    public func seal(_ plaintext: [UInt8], key: AESGCMKey, session: [UInt8], counter: UInt64, fileId: [UInt8],
                     index: UInt64, writeVersion: UInt64) throws -> (bytes: [UInt8], reference: ChunkReference) {
        var reference: ChunkReference?
        let bytes = try [UInt8](unsafeUninitializedCapacity: plaintext.count + Self.tagSize) { buffer, count in
            reference = try seal(plaintext, key: key, session: session, counter: counter, fileId: fileId, index: index,
                                 writeVersion: writeVersion, into: UnsafeMutableRawBufferPointer(buffer))
            count = buffer.count
        }
        return (bytes, reference!)
    }

    /// Seals `plaintext` into `output` (exactly `plaintext.count + tagSize` bytes: ciphertext ‖
    /// tag); returns its reference (segment and offset 0: the caller places it).
    public func seal(_ plaintext: [UInt8], key: AESGCMKey, session: [UInt8], counter: UInt64, fileId: [UInt8],
                     index: UInt64, writeVersion: UInt64, into output: UnsafeMutableRawBufferPointer) throws -> ChunkReference {
        precondition(output.count == plaintext.count + Self.tagSize, "sealed chunk buffer has the wrong size")
        let length = UInt32(plaintext.count)
        let tag = UnsafeMutableRawBufferPointer(rebasing: output[plaintext.count...])
        do {
            try plaintext.withUnsafeBytes { plain in
                try additionalData(fileId: fileId, index: index, writeVersion: writeVersion, length: length).withUnsafeBytes { aad in
                    try Self.withNonce(counter: counter) { nonce in
                        try key.seal(plain, nonce: nonce, additionalData: aad,
                                     into: UnsafeMutableRawBufferPointer(rebasing: output[..<plaintext.count]), tag: tag)
                    }
                }
            }
        } catch {
            throw ArcaError(.io, "cannot seal volume chunk \(index): \(error)")
        }
        return ChunkReference(session: session, counter: counter, writeVersion: writeVersion, length: length, tag: Array(tag))
    }

    /// Opens a sealed chunk's bytes against its reference into a new array; throws `integrity`
    /// unless the length, the tag and the authentication all match.
    public func open(_ sealed: ArraySlice<UInt8>, key: AESGCMKey, reference: ChunkReference, fileId: [UInt8], index: UInt64) throws -> [UInt8] {
        var bytes = Array(sealed)
        let length = try bytes.withUnsafeMutableBytes {
            try open(inPlace: $0, key: key, reference: reference, fileId: fileId, index: index).count
        }
        bytes.removeLast(bytes.count - length)
        return bytes
    }

    /// Opens a sealed chunk (ciphertext ‖ tag) where it lies; returns its plaintext, the first
    /// `reference.length` bytes of `sealed`. Throws `integrity` unless the length, the tag and the
    /// authentication all match (then `sealed` holds nothing usable).
    public func open(inPlace sealed: UnsafeMutableRawBufferPointer, key: AESGCMKey, reference: ChunkReference,
                     fileId: [UInt8], index: UInt64) throws -> UnsafeMutableRawBufferPointer {
        let expected = Int(reference.length) + Self.tagSize
        guard sealed.count == expected else {
            throw ArcaError(.integrity, "volume chunk \(index) (\(reference.location)) is \(sealed.count) bytes, expected \(expected)")
        }
        let plaintext = UnsafeMutableRawBufferPointer(rebasing: sealed[..<Int(reference.length)])
        let tag = UnsafeRawBufferPointer(rebasing: sealed[Int(reference.length)...])
        guard tag.elementsEqual(reference.tag) else {
            throw ArcaError(.integrity, "volume chunk \(index) (\(reference.location)) is not the chunk the metadata names")
        }
        let authentic = additionalData(fileId: fileId, index: index, writeVersion: reference.writeVersion, length: reference.length).withUnsafeBytes { aad in
            Self.withNonce(counter: reference.counter) { nonce in
                key.open(UnsafeRawBufferPointer(plaintext), tag: tag, nonce: nonce, additionalData: aad, into: plaintext)
            }
        }
        guard authentic else {
            throw ArcaError(.integrity, "volume chunk \(index) (\(reference.location)) fails authentication (changed, moved, or from another file)")
        }
        return plaintext
    }
}
