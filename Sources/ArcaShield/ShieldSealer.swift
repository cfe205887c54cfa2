import ArcaCore
import ArcaCrypto

/// Seals one stream (one blob, FORMAT.md §3–4): commits to the digests of its zero-padded chunks,
/// derives the stream's key from that commitment, then seals chunks from any thread, in any order.
///
/// 1. hash every chunk (`chunkDigest`, any thread) → `StreamSealer(masterKey:layout:size:chunkDigests:)`;
/// 2. `seal(chunk:plaintext:into:)` per chunk (any thread), written at `blobOffset(ofChunk:)`;
///    `blobHeader` at offset 0. `SealedStreamSource` does both passes over a file for you.
public struct StreamSealer: Sendable {
    public let layout: ChunkLayout
    /// Exact plaintext bytes of the stream.
    public let size: UInt64
    public let chunkCount: UInt64
    public let streamId: Hash256
    private let codec: ChunkCodec
    private let chunkDigests: [Hash256]

    /// `chunkDigests[j]` is `chunkDigest` of plaintext chunk `j`, zero-padded to the chunk size.
    public init(masterKey: MasterKey, layout: ChunkLayout, size: UInt64, chunkDigests: [Hash256]) throws {
        let count = layout.chunkCount(size: size)
        guard count >= 1 else { throw ArcaError(.invalidArgument, "an empty stream has no blob") }
        guard count <= ChunkCodec.maximumChunkCount else {
            throw ArcaError(.limitExceeded, "encrypted content of \(formatBytes(size)) needs \(count) chunks, over the \(ChunkCodec.maximumChunkCount) limit")
        }
        guard UInt64(chunkDigests.count) == count else {
            throw ArcaError(.invalidArgument, "\(chunkDigests.count) chunk digests for a stream of \(count) chunks")
        }
        let keys = KeySchedule(masterKey: masterKey)
        self.layout = layout
        self.size = size
        self.chunkCount = count
        self.chunkDigests = chunkDigests
        streamId = keys.streamId(chunkSize: layout.chunkSize, streamSize: size, chunkDigests: chunkDigests)
        codec = try ChunkCodec(keys: keys, layout: layout, streamId: streamId, streamSize: size)
    }

    /// The commitment digest of an assembled (zero-padded, full-size) chunk.
    public static func chunkDigest(_ plaintext: UnsafeRawBufferPointer) -> Hash256 {
        ChunkHasher.digest(plaintext)
    }

    /// What the index records about this stream.
    public var info: StreamInfo { StreamInfo(chunkCount: chunkCount, streamId: streamId, size: size) }

    /// The 64 bytes at the start of the blob.
    public var blobHeader: [UInt8] { BlobHeader.encode(layout: layout, chunkCount: chunkCount, streamId: streamId) }

    /// Bytes of a sealed chunk (ciphertext + tag).
    public var sealedChunkSize: Int { layout.chunkSize + ChunkCodec.tagSize }

    /// Where sealed chunk `index` goes in the blob.
    public func blobOffset(ofChunk index: UInt64) -> UInt64 {
        UInt64(ShieldFormat.blobHeaderSize) + index * UInt64(sealedChunkSize)
    }

    /// The total blob size.
    public var blobSize: UInt64 { blobOffset(ofChunk: chunkCount) }

    /// Seals chunk `index`. `plaintext` must be the same full-size chunk whose digest was
    /// committed (else `integrity`: sealing other bytes would reuse a nonce); `output` is
    /// `sealedChunkSize` bytes.
    public func seal(chunk index: UInt64, plaintext: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws {
        guard index < chunkCount else {
            throw ArcaError(.invalidArgument, "chunk \(index) is past the last chunk of a \(chunkCount)-chunk stream")
        }
        guard plaintext.count == layout.chunkSize, output.count == sealedChunkSize else {
            throw ArcaError(.invalidArgument, "chunk \(index): buffers of \(plaintext.count) and \(output.count) bytes, expected \(layout.chunkSize) and \(sealedChunkSize)")
        }
        guard ChunkHasher.digest(plaintext) == chunkDigests[Int(index)] else {
            throw ArcaError(.integrity, "stream chunk \(index) changed between hashing and sealing (did a file change during the seal?)")
        }
        try codec.seal(index: index, plaintext: plaintext, into: output)
    }
}

/// The bytes of an index and its root (SHA-256 of the bytes).
public struct SealedIndex: Hashable, Sendable {
    public let bytes: [UInt8]
    public let root: Hash256
}

/// Builds the index of a tree whose encrypted content was sealed into streams beforehand.
public enum ShieldIndexBuilder {
    /// Validates `entries` (strictly sorted by path bytes, every rule of FORMAT.md §5) and
    /// encodes them with the stream table. Authenticated regular files carry their chunk digests;
    /// encrypted ones name a stream (an index into `streams`) and an offset in it, and empty ones
    /// stream 0, offset 0. Stream ids must be distinct.
    public static func build(entries: [IndexEntry], streams: [StreamInfo], masterKey: MasterKey,
                             chunkSize: Int = ChunkLayout.defaultChunkSize) throws -> SealedIndex {
        let layout = try ChunkLayout(chunkSize: chunkSize)
        guard streams.count <= ShieldFormat.maximumStreams else {
            throw ArcaError(.limitExceeded, "\(streams.count) streams, over the \(ShieldFormat.maximumStreams) limit")
        }
        var ids = Set<Hash256>()
        for (k, stream) in streams.enumerated() {
            guard stream.chunkCount >= 1, stream.chunkCount == layout.chunkCount(size: stream.size), ids.insert(stream.streamId).inserted else {
                throw ArcaError(.invalidArgument, "stream \(k): \(stream.chunkCount) chunks for \(stream.size) bytes, or a repeated id")
            }
        }
        var publicEntries: [IndexEntry] = []
        var encryptedEntries: [IndexEntry] = []
        for (i, entry) in entries.enumerated() {
            try EntryCodec.validate(entry, layout: layout)
            if i > 0, !pathPrecedes(entries[i - 1].path, entry.path) {
                throw ArcaError(.invalidArgument, "entries are not sorted: \(entry.path) comes after \(entries[i - 1].path)")
            }
            if entry.protection == .authenticated { publicEntries.append(entry) } else { encryptedEntries.append(entry) }
        }
        guard max(publicEntries.count, encryptedEntries.count) <= ShieldFormat.maximumEntries else {
            throw ArcaError(.limitExceeded, "\(max(publicEntries.count, encryptedEntries.count)) entries in one section, over the \(ShieldFormat.maximumEntries) limit")
        }
        do {
            try ShieldIndex.checkStreamRanges(encryptedEntries, streams: streams)
        } catch let error as ArcaError {
            throw ArcaError(.invalidArgument, error.message)
        }
        for section in [publicEntries, encryptedEntries] {
            for entry in section where entry.type == .hardlink {
                guard let target = ShieldIndex.find(entry.linkTarget, in: section), target.type == .regular else {
                    throw ArcaError(.invalidArgument, "hardlink \(entry.path): target \(entry.linkTarget) is not a regular file of the same class")
                }
            }
        }
        let bytes = try IndexCodec.build(layout: layout, publicEntries: publicEntries, encryptedEntries: encryptedEntries,
                                         streams: streams, keys: KeySchedule(masterKey: masterKey))
        return SealedIndex(bytes: bytes, root: ChunkHasher.digest(bytes))
    }
}
