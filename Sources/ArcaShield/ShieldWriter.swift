import ArcaCore
import ArcaCrypto

/// One entry to seal, with its content when it is a regular file.
public struct ShieldInput: Sendable {
    public var entry: IndexEntry
    public var content: (any RandomAccessBytes)?
    public init(entry: IndexEntry, content: (any RandomAccessBytes)? = nil) {
        self.entry = entry
        self.content = content
    }
}

/// What `ShieldWriter.write` produced.
public struct ShieldOutput: Sendable {
    public let index: SealedIndex
    /// Bytes written to the blob sink (0: no blob, the sink was left untouched).
    public let blobSize: UInt64
}

/// Seals a whole tree in one call, on the calling thread, packing every encrypted file into one
/// stream (stream 0) in path order. The sealer (ArcaSeal) makes one stream per source layer with
/// `StreamSealer` and `ShieldIndexBuilder` instead; both give valid shields.
public enum ShieldWriter {
    /// Computes the chunk digests of authenticated regular files from their content, lays out
    /// and seals the encrypted content into `blob` (header first), and returns the index.
    /// `inputs` must be sorted by path; regular files need `content` of exactly `size` bytes.
    public static func write(_ inputs: [ShieldInput], masterKey: MasterKey, chunkSize: Int = ChunkLayout.defaultChunkSize,
                             blob: some ByteSink) throws -> ShieldOutput {
        let layout = try ChunkLayout(chunkSize: chunkSize)
        var entries: [IndexEntry] = []
        entries.reserveCapacity(inputs.count)
        var pieces: [PackedBytes.Piece] = []
        var offset: UInt64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        for input in inputs {
            var entry = input.entry
            if entry.type == .regular {
                guard let content = input.content else {
                    throw ArcaError(.invalidArgument, "regular file \(entry.path) has no content")
                }
                if entry.protection == .authenticated {
                    entry.chunkDigests = try digests(of: content, size: entry.size, layout: layout, path: entry.path, buffer: buffer)
                } else {
                    try checkEnd(of: content, size: entry.size, path: entry.path)
                    entry.stream = 0
                    entry.streamOffset = entry.size > 0 ? offset : 0
                    if entry.size > 0 { pieces.append(PackedBytes.Piece(start: offset, size: entry.size, content: content)) }
                    offset += entry.size
                }
            }
            entries.append(entry)
        }
        var streams: [StreamInfo] = []
        var blobSize: UInt64 = 0
        if offset > 0 {
            let packed = PackedBytes(pieces: pieces, size: offset)
            let sealer = try StreamSealer.hashing(packed, size: offset, masterKey: masterKey, layout: layout, parallelism: 1)
            try SealedBlobSource(sealer: sealer, content: packed, parallelism: 1).copy(to: blob)
            streams = [sealer.info]
            blobSize = sealer.blobSize
        }
        let index = try ShieldIndexBuilder.build(entries: entries, streams: streams, masterKey: masterKey, chunkSize: chunkSize)
        return ShieldOutput(index: index, blobSize: blobSize)
    }

    /// The SHA-256 of each chunk of `content`, which must be exactly `size` bytes long.
    public static func digests(of content: some RandomAccessBytes, size: UInt64, layout: ChunkLayout, path: String,
                               buffer: UnsafeMutableRawBufferPointer) throws -> [Hash256] {
        var result: [Hash256] = []
        let count = layout.chunkCount(size: size)
        result.reserveCapacity(Int(count))
        for i in 0..<count {
            let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[..<layout.chunkLength(index: i, size: size)])
            try content.readExactly(at: layout.chunkStart(index: i), into: slice, what: "content of \(path)")
            result.append(ChunkHasher.digest(UnsafeRawBufferPointer(slice)))
        }
        try checkEnd(of: content, size: size, path: path)
        return result
    }

    /// Refuses content with bytes after `size` (a file that grew, or a wrong size in the entry).
    static func checkEnd(of content: some RandomAccessBytes, size: UInt64, path: String) throws {
        var probe: UInt8 = 0
        guard try withUnsafeMutableBytes(of: &probe, { try content.read(at: size, into: $0) }) == 0 else {
            throw ArcaError(.integrity, "content of \(path) is longer than its size \(size)")
        }
    }
}

/// Files laid end to end as one stream, read at any offset.
struct PackedBytes: RandomAccessBytes {
    struct Piece: Sendable {
        var start: UInt64
        var size: UInt64
        var content: any RandomAccessBytes
    }
    let pieces: [Piece]
    let size: UInt64

    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard offset < size, !buffer.isEmpty else { return 0 }
        var low = 0, high = pieces.count
        while low < high {
            let mid = (low + high) / 2
            if pieces[mid].start + pieces[mid].size <= offset { low = mid + 1 } else { high = mid }
        }
        var filled = 0
        var k = low
        while filled < buffer.count, k < pieces.count {
            let piece = pieces[k]
            let at = offset + UInt64(filled) - piece.start
            let n = Int(min(UInt64(buffer.count - filled), piece.size - at))
            try piece.content.readExactly(at: at, into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<(filled + n)]),
                                          what: "packed content")
            filled += n
            k += 1
        }
        return filled
    }
}
