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

/// Seals a whole tree in one call, on the calling thread (the staged API of `ShieldPlan` is
/// the parallel path; both give the same bytes).
public enum ShieldWriter {
    /// Computes the chunk digests of authenticated regular files from their content, lays out
    /// and seals the encrypted content into `blob` (header first), and returns the index.
    /// `inputs` must be sorted by path; regular files need `content` of exactly `size` bytes.
    public static func write(_ inputs: [ShieldInput], masterKey: MasterKey, chunkSize: Int = ChunkLayout.defaultChunkSize,
                             blob: some ByteSink) throws -> ShieldOutput {
        let layout = try ChunkLayout(chunkSize: chunkSize)
        var entries: [IndexEntry] = []
        entries.reserveCapacity(inputs.count)
        var contents: [String: any RandomAccessBytes] = [:]
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize + ChunkCodec.tagSize, alignment: 16)
        defer { buffer.deallocate() }
        let chunk = UnsafeMutableRawBufferPointer(rebasing: buffer[..<chunkSize])
        for input in inputs {
            var entry = input.entry
            if entry.type == .regular {
                guard let content = input.content else {
                    throw ArcaError(.invalidArgument, "regular file \(entry.path) has no content")
                }
                contents[entry.path] = content
                if entry.protection == .authenticated {
                    entry.chunkDigests = try digests(of: content, size: entry.size, layout: layout, path: entry.path, buffer: chunk)
                } else {
                    try checkEnd(of: content, size: entry.size, path: entry.path)
                }
            }
            entries.append(entry)
        }
        let plan = try ShieldPlan(entries: entries, chunkSize: chunkSize)
        let read: (IndexEntry, UInt64, UnsafeMutableRawBufferPointer) throws -> Void = { entry, offset, destination in
            guard let content = contents[entry.path] else { throw ArcaError(.notFound, "no content for \(entry.path)") }
            try content.readExactly(at: offset, into: destination, what: "content of \(entry.path)")
        }
        var chunkDigests: [Hash256] = []
        chunkDigests.reserveCapacity(Int(plan.chunkCount))
        for j in 0..<plan.chunkCount {
            try plan.assembleChunk(j, into: chunk, read: read)
            chunkDigests.append(plan.chunkDigest(UnsafeRawBufferPointer(chunk)))
        }
        let sealer = try plan.sealer(masterKey: masterKey, chunkDigests: chunkDigests)
        if sealer.hasBlob {
            try blob.write(sealer.blobHeader)
            let sealed = UnsafeMutableRawBufferPointer.allocate(byteCount: sealer.sealedChunkSize, alignment: 16)
            defer { sealed.deallocate() }
            for j in 0..<plan.chunkCount {
                try plan.assembleChunk(j, into: chunk, read: read)
                try sealer.seal(chunk: j, plaintext: UnsafeRawBufferPointer(chunk), into: sealed)
                try blob.write(UnsafeRawBufferPointer(sealed))
            }
        }
        return ShieldOutput(index: try sealer.makeIndex(), blobSize: sealer.blobSize)
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
