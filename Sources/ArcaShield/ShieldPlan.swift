import ArcaCore
import ArcaCrypto

/// Stage 1 of writing a shield: the validated entries and the layout of the blob stream.
///
/// The sealer drives the stages, in parallel where it likes, and gets the same bytes in any order:
/// 1. `ShieldPlan(entries:chunkSize:)`;
/// 2. for each stream chunk `j` (any thread): `assembleChunk(j, into:read:)`, then `chunkDigest(_:)`;
/// 3. `sealer(masterKey:chunkDigests:)` → `ShieldSealer`;
/// 4. for each `j` (any thread): `ShieldSealer.seal(chunk:plaintext:into:)`, written at `blobOffset(j)`;
/// 5. `ShieldSealer.blobHeader` at offset 0, and `ShieldSealer.makeIndex()`.
public struct ShieldPlan: Sendable {
    public let layout: ChunkLayout
    /// All entries, sorted by path, with the stream offsets of encrypted regular files filled in.
    public let entries: [IndexEntry]
    /// Bytes of encrypted content, packed in path order.
    public let streamSize: UInt64
    public let chunkCount: UInt64
    /// Indices into `entries` of encrypted regular files with content, in stream order.
    private let streamFiles: [Int]

    /// One piece of a stream chunk: `length` bytes of `entries[entryIndex]` from `fileOffset`,
    /// placed at `chunkOffset` in the chunk.
    public struct Piece: Hashable, Sendable {
        public let entryIndex: Int
        public let fileOffset: UInt64
        public let chunkOffset: Int
        public let length: Int
    }

    /// Validates `entries` (strictly sorted by path bytes, every rule of FORMAT.md §5) and lays
    /// out the stream. Authenticated regular files must carry their chunk digests; encrypted ones
    /// must not (their stream offsets are assigned here).
    public init(entries input: [IndexEntry], chunkSize: Int = ChunkLayout.defaultChunkSize) throws {
        layout = try ChunkLayout(chunkSize: chunkSize)
        var entries = input
        var offset: UInt64 = 0
        var files: [Int] = []
        var counts = [0, 0]
        for i in entries.indices {
            if entries[i].isEncryptedRegular { entries[i].streamOffset = offset }
            try EntryCodec.validate(entries[i], layout: layout)
            if i > 0, !pathPrecedes(entries[i - 1].path, entries[i].path) {
                throw ArcaError(.invalidArgument, "entries are not sorted: \(entries[i].path) comes after \(entries[i - 1].path)")
            }
            counts[entries[i].protection == .authenticated ? 0 : 1] += 1
            if entries[i].isEncryptedRegular {
                if entries[i].size > 0 { files.append(i) }
                offset += entries[i].size
            }
        }
        guard counts.allSatisfy({ $0 <= ShieldFormat.maximumEntries }) else {
            throw ArcaError(.limitExceeded, "\(counts.max() ?? 0) entries in one section, over the \(ShieldFormat.maximumEntries) limit")
        }
        let chunkCount = layout.chunkCount(size: offset)
        guard chunkCount <= ChunkCodec.maximumChunkCount else {
            throw ArcaError(.limitExceeded, "encrypted content of \(formatBytes(offset)) needs \(chunkCount) chunks, over the \(ChunkCodec.maximumChunkCount) limit")
        }
        let sections = [entries.filter { $0.protection == .authenticated }, entries.filter { $0.protection == .encrypted }]
        for entry in entries where entry.type == .hardlink {
            let section = sections[entry.protection == .authenticated ? 0 : 1]
            guard let target = ShieldIndex.find(entry.linkTarget, in: section), target.type == .regular else {
                throw ArcaError(.invalidArgument, "hardlink \(entry.path): target \(entry.linkTarget) is not a regular file of the same class")
            }
        }
        self.entries = entries
        self.streamSize = offset
        self.chunkCount = chunkCount
        self.streamFiles = files
    }

    /// The pieces of files that make up stream chunk `index`, in order (the rest is zero padding).
    public func pieces(ofChunk index: UInt64) -> [Piece] {
        let start = layout.chunkStart(index: index)
        let end = min(start + UInt64(layout.chunkSize), streamSize)
        guard start < end else { return [] }
        // First file whose range ends after `start`.
        var low = 0, high = streamFiles.count
        while low < high {
            let mid = (low + high) / 2
            let entry = entries[streamFiles[mid]]
            if entry.streamOffset + entry.size <= start { low = mid + 1 } else { high = mid }
        }
        var pieces: [Piece] = []
        var k = low
        while k < streamFiles.count {
            let entry = entries[streamFiles[k]]
            guard entry.streamOffset < end else { break }
            let from = max(start, entry.streamOffset)
            let to = min(end, entry.streamOffset + entry.size)
            pieces.append(Piece(entryIndex: streamFiles[k], fileOffset: from - entry.streamOffset,
                                chunkOffset: Int(from - start), length: Int(to - from)))
            k += 1
        }
        return pieces
    }

    /// Fills `buffer` (exactly one chunk) with stream chunk `index`: file bytes read through
    /// `read(entry, fileOffset, destination)`, zeros after the end of the stream.
    public func assembleChunk(_ index: UInt64, into buffer: UnsafeMutableRawBufferPointer,
                              read: (IndexEntry, UInt64, UnsafeMutableRawBufferPointer) throws -> Void) throws {
        precondition(buffer.count == layout.chunkSize, "chunk buffer has the wrong size")
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        for piece in pieces(ofChunk: index) {
            let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[piece.chunkOffset..<(piece.chunkOffset + piece.length)])
            try read(entries[piece.entryIndex], piece.fileOffset, slice)
        }
    }

    /// The commitment digest of an assembled (zero-padded, full-size) stream chunk.
    public func chunkDigest(_ plaintext: UnsafeRawBufferPointer) -> Hash256 {
        precondition(plaintext.count == layout.chunkSize, "chunk has the wrong size")
        return ChunkHasher.digest(plaintext)
    }

    /// Stage 3: commits to the stream chunks and derives the keys.
    public func sealer(masterKey: MasterKey, chunkDigests: [Hash256]) throws -> ShieldSealer {
        guard UInt64(chunkDigests.count) == chunkCount else {
            throw ArcaError(.invalidArgument, "\(chunkDigests.count) chunk digests for a stream of \(chunkCount) chunks")
        }
        return try ShieldSealer(plan: self, keys: KeySchedule(masterKey: masterKey), chunkDigests: chunkDigests)
    }
}
