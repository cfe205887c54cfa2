import ArcaCore
import ArcaCrypto

extension StreamSealer {
    /// Hashes the stream `content` (exactly `size` bytes, read with `pread` from any thread) in
    /// batches of chunks on up to `parallelism` threads, and commits to it. Same result for any
    /// `parallelism`.
    public static func hashing(_ content: some RandomAccessBytes, size: UInt64, masterKey: MasterKey, layout: ChunkLayout,
                               parallelism: Int) throws -> StreamSealer {
        let count = layout.chunkCount(size: size)
        let batches = Int((count + UInt64(SealedBlobSource.batch) - 1) / UInt64(SealedBlobSource.batch))
        let digests = try Parallel.map(batches, width: parallelism) { b -> [Hash256] in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: layout.chunkSize, alignment: 16)
            defer { buffer.deallocate() }
            return try SealedBlobSource.range(ofBatch: b, chunkCount: count).map { j in
                try SealedBlobSource.assemble(j, of: content, size: size, layout: layout, into: buffer)
                return chunkDigest(UnsafeRawBufferPointer(buffer))
            }
        }.flatMap { $0 }
        var probe: UInt8 = 0
        guard try withUnsafeMutableBytes(of: &probe, { try content.read(at: size, into: $0) }) == 0 else {
            throw ArcaError(.integrity, "stream content is longer than its size \(size)")
        }
        return try StreamSealer(masterKey: masterKey, layout: layout, size: size, chunkDigests: digests)
    }
}

/// The blob of one stream as a byte source: the header, then the sealed chunks. Chunks are
/// sealed in groups (one batch of 64 chunks per thread) on up to `parallelism` threads; with
/// more than one thread, a producer seals the next groups while the consumer reads this one
/// (at most `SealPipeline.depth` groups in memory, buffers reused). The content is read again
/// and re-hashed chunk by chunk (`StreamSealer.seal`).
public final class SealedBlobSource: ByteSource {
    static let batch = 64
    private let header: [UInt8]
    private var headerOffset = 0
    private let pipeline: SealPipeline
    private var group = 0
    private var slot: UnsafeMutableRawBufferPointer?
    private var slotOffset = 0

    public init(sealer: StreamSealer, content: some RandomAccessBytes, parallelism: Int) {
        header = sealer.blobHeader
        pipeline = SealPipeline(sealer: sealer, content: content, parallelism: max(1, parallelism))
    }

    deinit { pipeline.cancel() }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        if headerOffset < header.count {
            let n = min(buffer.count, header.count - headerOffset)
            header.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[headerOffset..<(headerOffset + n)])) }
            headerOffset += n
            return n
        }
        if let current = slot, slotOffset == current.count {
            pipeline.release(group)
            group += 1
            slot = nil
        }
        if slot == nil {
            guard group < pipeline.groups else { return 0 }
            slot = try pipeline.take(group)
            slotOffset = 0
        }
        let current = slot!
        let n = min(buffer.count, current.count - slotOffset)
        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: current[slotOffset..<(slotOffset + n)]))
        slotOffset += n
        return n
    }

    static func range(ofBatch b: Int, chunkCount: UInt64) -> Range<UInt64> {
        UInt64(b * batch)..<min(UInt64((b + 1) * batch), chunkCount)
    }

    /// Chunk `j` of the stream, zero-padded after its end.
    static func assemble(_ j: UInt64, of content: some RandomAccessBytes, size: UInt64, layout: ChunkLayout,
                         into buffer: UnsafeMutableRawBufferPointer) throws {
        let length = layout.chunkLength(index: j, size: size)
        try content.readExactly(at: layout.chunkStart(index: j), into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<length]),
                                what: "stream content")
        if length < buffer.count {
            UnsafeMutableRawBufferPointer(rebasing: buffer[length...]).initializeMemory(as: UInt8.self, repeating: 0)
        }
    }
}
