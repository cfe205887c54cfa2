import ArcaCore
import Crypto
import FoundationEssentials

/// AES-256-GCM of the chunks of one blob stream (docs/FORMAT.md §3–4).
///
/// Chunk `j` is sealed under `K_stream(streamId)` with nonce `0x00000000 ‖ u64 j` and additional
/// data `u16 version ‖ streamId ‖ u64 j ‖ u8 final ‖ u64 streamSize`. Every chunk holds exactly
/// `chunkSize` plaintext bytes (the last one zero-padded). Immutable and safe to share between threads.
public struct ChunkCodec: Sendable {
    /// The GCM tag length.
    public static let tagSize = 16
    /// The largest number of chunks one stream may have (the nonce counter stays far below 2^64,
    /// and SP 800-38D's 2^32 invocation bound for a key holds too).
    public static let maximumChunkCount: UInt64 = (1 << 32) - 1

    public let layout: ChunkLayout
    public let streamId: Hash256
    public let streamSize: UInt64
    public let chunkCount: UInt64
    private let key: AESGCMKey

    public init(keys: KeySchedule, layout: ChunkLayout, streamId: Hash256, streamSize: UInt64) throws {
        let count = layout.chunkCount(size: streamSize)
        guard count <= Self.maximumChunkCount else {
            throw ArcaError(.limitExceeded, "a stream of \(formatBytes(streamSize)) has \(count) chunks, over the \(Self.maximumChunkCount) limit")
        }
        self.layout = layout
        self.streamId = streamId
        self.streamSize = streamSize
        self.chunkCount = count
        self.key = try AESGCMKey(keys.streamKey(streamId: streamId))
    }

    /// Ciphertext plus tag of one chunk.
    public var sealedChunkSize: Int { layout.chunkSize + Self.tagSize }

    /// The 51 bytes of additional data of chunk `index`.
    public func additionalData(index: UInt64) -> [UInt8] {
        var aad = [UInt8]()
        aad.reserveCapacity(51)
        aad.appendBigEndian(KeySchedule.formatVersion)
        aad.append(contentsOf: streamId.bytes)
        aad.appendBigEndian(index)
        aad.append(index + 1 == chunkCount ? 1 : 0)
        aad.appendBigEndian(streamSize)
        return aad
    }

    /// The 12-byte nonce of chunk `index`: four zero bytes, then the index big-endian.
    public static func nonceBytes(index: UInt64) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: 4)
        nonce.appendBigEndian(index)
        return nonce
    }

    /// Seals chunk `index`: `plaintext` is exactly `chunkSize` bytes, `output` exactly
    /// `sealedChunkSize` bytes (ciphertext then tag).
    public func seal(index: UInt64, plaintext: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws {
        try checkIndex(index)
        precondition(plaintext.count == layout.chunkSize && output.count == sealedChunkSize, "chunk buffers have the wrong size")
        do {
            try Self.nonceBytes(index: index).withUnsafeBytes { nonce in
                try additionalData(index: index).withUnsafeBytes { aad in
                    try key.seal(plaintext, nonce: nonce, additionalData: aad, into: UnsafeMutableRawBufferPointer(rebasing: output[..<layout.chunkSize]),
                                 tag: UnsafeMutableRawBufferPointer(rebasing: output[layout.chunkSize...]))
                }
            }
        } catch {
            throw ArcaError(.io, "cannot seal chunk \(index): \(error)")
        }
    }

    /// Opens chunk `index`: `sealed` is exactly `sealedChunkSize` bytes, `output` exactly
    /// `chunkSize`. Throws `integrity` (and leaves `output` zeroed) unless the tag checks.
    public func open(index: UInt64, sealed: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws {
        try checkIndex(index)
        guard sealed.count == sealedChunkSize else {
            throw ArcaError(.integrity, "blob chunk \(index) is \(sealed.count) bytes, expected \(sealedChunkSize)")
        }
        precondition(output.count == layout.chunkSize, "chunk output buffer has the wrong size")
        let authentic = Self.nonceBytes(index: index).withUnsafeBytes { nonce in
            additionalData(index: index).withUnsafeBytes { aad in
                key.open(UnsafeRawBufferPointer(rebasing: sealed[..<layout.chunkSize]), tag: UnsafeRawBufferPointer(rebasing: sealed[layout.chunkSize...]),
                         nonce: nonce, additionalData: aad, into: output)
            }
        }
        guard authentic else {
            throw ArcaError(.integrity, "blob chunk \(index) fails authentication (changed, moved, or from another blob)")
        }
    }

    private func checkIndex(_ index: UInt64) throws {
        guard index < chunkCount else {
            throw ArcaError(.invalidArgument, "chunk \(index) is past the last chunk of a \(chunkCount)-chunk stream")
        }
    }
}

/// AES-256-GCM of the encrypted index section: a key used once, so a zero nonce (FORMAT.md §3).
public enum IndexCipher {
    /// Returns ciphertext ‖ tag.
    public static func seal(plaintext: [UInt8], additionalData: [UInt8], key: SymmetricKey) throws -> [UInt8] {
        do {
            let box = try AES.GCM.seal(plaintext, using: key, nonce: try AES.GCM.Nonce(data: [UInt8](repeating: 0, count: 12)),
                                       authenticating: additionalData)
            return Array(box.ciphertext) + Array(box.tag)
        } catch {
            throw ArcaError(.io, "cannot seal the index: \(error)")
        }
    }

    /// Opens ciphertext ‖ tag; throws `integrity` unless the tag checks.
    public static func open(sealed: UnsafeRawBufferPointer, additionalData: UnsafeRawBufferPointer, key: SymmetricKey) throws -> [UInt8] {
        guard sealed.count >= ChunkCodec.tagSize else {
            throw ArcaError(.integrity, "the encrypted index section is \(sealed.count) bytes, shorter than its tag")
        }
        do {
            let split = sealed.count - ChunkCodec.tagSize
            let box = try AES.GCM.SealedBox(nonce: try AES.GCM.Nonce(data: [UInt8](repeating: 0, count: 12)),
                                            ciphertext: UnsafeRawBufferPointer(rebasing: sealed[..<split]),
                                            tag: UnsafeRawBufferPointer(rebasing: sealed[split...]))
            return Array(try AES.GCM.open(box, using: key, authenticating: additionalData))
        } catch {
            throw ArcaError(.integrity, "the encrypted index section fails authentication (wrong key, or changed)")
        }
    }
}
