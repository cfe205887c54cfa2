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

/// The blob of one stream as a byte source: the header, then the sealed chunks, sealed in
/// batches on up to `parallelism` threads while the consumer reads (memory: a few batches of
/// 64 chunks). The content is read again and re-hashed chunk by chunk (`StreamSealer.seal`).
public final class SealedBlobSource: ByteSource {
    static let batch = 64
    private let sealer: StreamSealer
    private let content: any RandomAccessBytes
    private let parallelism: Int
    private var pending: [UInt8]
    private var pendingOffset = 0
    private var nextBatch = 0
    private let batches: Int

    public init(sealer: StreamSealer, content: some RandomAccessBytes, parallelism: Int) {
        self.sealer = sealer
        self.content = content
        self.parallelism = max(1, parallelism)
        pending = sealer.blobHeader
        batches = Int((sealer.chunkCount + UInt64(Self.batch) - 1) / UInt64(Self.batch))
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if pendingOffset == pending.count {
            guard nextBatch < batches else { return 0 }
            try refill()
        }
        let n = min(buffer.count, pending.count - pendingOffset)
        pending.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[pendingOffset..<(pendingOffset + n)])) }
        pendingOffset += n
        return n
    }

    private func refill() throws {
        let sealer = self.sealer, content = self.content
        let first = nextBatch
        let count = min(parallelism * 2, batches - first)
        let sealed = try Parallel.map(count, width: parallelism) { offset -> [UInt8] in
            let range = Self.range(ofBatch: first + offset, chunkCount: sealer.chunkCount)
            let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: sealer.layout.chunkSize, alignment: 16)
            defer { plain.deallocate() }
            var out = [UInt8](repeating: 0, count: range.count * sealer.sealedChunkSize)
            try out.withUnsafeMutableBytes { all in
                for (position, j) in range.enumerated() {
                    try Self.assemble(j, of: content, size: sealer.size, layout: sealer.layout, into: plain)
                    let slot = UnsafeMutableRawBufferPointer(rebasing: all[(position * sealer.sealedChunkSize)...].prefix(sealer.sealedChunkSize))
                    try sealer.seal(chunk: j, plaintext: UnsafeRawBufferPointer(plain), into: slot)
                }
            }
            return out
        }
        nextBatch += count
        pending = sealed.count == 1 ? sealed[0] : Array(sealed.joined())
        pendingOffset = 0
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
