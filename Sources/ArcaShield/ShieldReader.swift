import ArcaCore
import ArcaCrypto

/// Random-access reads of a shield (FORMAT.md §7): decrypts and authenticates encrypted files
/// chunk by chunk from the blob, and verifies authenticated chunks read from elsewhere.
///
/// Immutable and `Sendable`: one reader serves every FUSE thread. Each read does one `pread`
/// per blob chunk it touches and decrypts only those chunks; nothing is returned unverified.
public final class ShieldReader: Sendable {
    public let index: ShieldIndex
    private let codecs: [ChunkCodec]
    private let blobs: [any RandomAccessBytes]

    /// Checks each blob against the index: its header must be the one the index implies and its
    /// size exactly `index.blobSize(stream:)`. A shield with encrypted content needs the index
    /// parsed with the master key, that key, and one blob per stream, in stream-table order.
    public init(index: ShieldIndex, masterKey: MasterKey?, blobs: [any RandomAccessBytes]) throws {
        self.index = index
        guard !index.streams.isEmpty else {
            codecs = []
            self.blobs = []
            return
        }
        guard let masterKey, !index.isLocked else {
            throw ArcaError(.invalidArgument, "the shield has encrypted content: open its index and its blobs with the master key")
        }
        guard blobs.count == index.streams.count else {
            throw ArcaError(.notFound, "the shield has \(index.streams.count) blob(s), \(blobs.count) were given")
        }
        let keys = KeySchedule(masterKey: masterKey)
        var codecs: [ChunkCodec] = []
        for (k, blob) in blobs.enumerated() {
            let place = index.streams.count == 1 ? "blob" : "blob \(k) (\(index.streams[k].streamId.hex.prefix(12))…)"
            var header = [UInt8](repeating: 0, count: ShieldFormat.blobHeaderSize)
            try header.withUnsafeMutableBytes { try blob.readExactly(at: 0, into: $0, what: "\(place) header") }
            if let field = BlobHeader.mismatch(actual: header, expected: index.blobHeader(stream: k)) {
                throw ArcaError(.integrity, "\(place) header: \(field) differs from what the index expects (wrong or changed blob)")
            }
            let size = index.blobSize(stream: k)
            var probe = [UInt8](repeating: 0, count: 2)
            let got = try probe.withUnsafeMutableBytes { try blob.read(at: size - 1, into: $0) }
            guard got == 1 else {
                throw ArcaError(.integrity, got == 0 ? "\(place) is truncated: shorter than the \(size) bytes the index expects"
                                                     : "\(place) is longer than the \(size) bytes the index expects")
            }
            codecs.append(try ChunkCodec(keys: keys, layout: index.layout, streamId: index.streams[k].streamId,
                                         streamSize: index.streams[k].size))
        }
        self.codecs = codecs
        self.blobs = blobs
    }

    /// A shield with at most one stream: `blob` is its blob (nil when it has none).
    public convenience init(index: ShieldIndex, masterKey: MasterKey?, blob: (any RandomAccessBytes)?) throws {
        try self.init(index: index, masterKey: masterKey, blobs: blob.map { [$0] } ?? [])
    }

    public var chunkSize: Int { index.layout.chunkSize }

    // MARK: encrypted files

    /// Reads, decrypts and authenticates chunk `j` of stream `k` into `output` (`chunkSize`
    /// bytes). The padding after the end of the stream is checked to be zero.
    public func readBlobChunk(stream k: Int, _ j: UInt64, into output: UnsafeMutableRawBufferPointer) throws {
        let sealed = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize + ChunkCodec.tagSize, alignment: 16)
        defer { sealed.deallocate() }
        try readBlobChunk(stream: k, j, into: output, scratch: sealed)
    }

    /// `readBlobChunk` with a caller-provided `sealedChunkSize` scratch buffer (no allocation).
    private func readBlobChunk(stream k: Int, _ j: UInt64, into output: UnsafeMutableRawBufferPointer,
                               scratch sealed: UnsafeMutableRawBufferPointer) throws {
        guard k >= 0, k < codecs.count else { throw ArcaError(.notFound, "the shield has no stream \(k)") }
        let codec = codecs[k]
        let offset = UInt64(ShieldFormat.blobHeaderSize) + j * UInt64(codec.sealedChunkSize)
        try blobs[k].readExactly(at: offset, into: sealed, what: "blob chunk \(j)")
        try codec.open(index: j, sealed: UnsafeRawBufferPointer(sealed), into: output)
        if j + 1 == codec.chunkCount {
            let used = Int(codec.streamSize - index.layout.chunkStart(index: j))
            guard ConstantTime.isZero(UnsafeRawBufferPointer(rebasing: output[used...])) else {
                throw ArcaError(.integrity, "blob chunk \(j): padding after the end of the stream is not zero")
            }
        }
    }

    /// Reads up to `buffer.count` bytes of the encrypted file `entry` from `offset`; returns how
    /// many (fewer only at the end of the file). Throws `integrity` naming the file and chunk.
    public func read(_ entry: IndexEntry, offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard entry.isEncryptedRegular else {
            throw ArcaError(.invalidArgument, "\(entry.path) is not an encrypted regular file")
        }
        guard offset < entry.size, buffer.count > 0 else { return 0 }
        let k = Int(entry.stream)
        guard k < index.streams.count, entry.size <= index.streams[k].size, entry.streamOffset <= index.streams[k].size - entry.size else {
            throw ArcaError(.invalidArgument, "entry \(entry.path) is not from this shield's index")
        }
        let streamSize = index.streams[k].size
        let length = Int(min(UInt64(buffer.count), entry.size - offset))
        let streamStart = entry.streamOffset + offset
        let chunks = index.layout.chunks(offset: streamStart, length: UInt64(length), size: streamSize)
        // One allocation per call for both buffers; the reader itself stays immutable and shared.
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * chunkSize + ChunkCodec.tagSize, alignment: 16)
        defer { scratch.deallocate() }
        let plain = UnsafeMutableRawBufferPointer(rebasing: scratch[..<chunkSize])
        let sealed = UnsafeMutableRawBufferPointer(rebasing: scratch[chunkSize...])
        var written = 0
        for j in chunks {
            do {
                try readBlobChunk(stream: k, j, into: plain, scratch: sealed)
            } catch let error as ArcaError {
                let fileOffset = max(index.layout.chunkStart(index: j), entry.streamOffset) - entry.streamOffset
                throw ArcaError(error.code, "encrypted file \(entry.path), chunk \(fileOffset / UInt64(chunkSize)): \(error.message)")
            }
            let chunkStart = index.layout.chunkStart(index: j)
            let from = Int(streamStart + UInt64(written) - chunkStart)
            let n = min(chunkSize - from, length - written)
            UnsafeMutableRawBufferPointer(rebasing: buffer[written..<(written + n)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: plain[from..<(from + n)]))
            written += n
        }
        return written
    }

    /// Reads `length` bytes (fewer at the end of the file) of the encrypted file `entry` from `offset`.
    public func read(_ entry: IndexEntry, offset: UInt64, length: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: max(0, min(length, Int(clamping: entry.size - min(offset, entry.size)))))
        let n = try out.withUnsafeMutableBytes { try read(entry, offset: offset, into: $0) }
        out.removeSubrange(n...)
        return out
    }

    /// Chunk `i` of the encrypted file `entry` (`chunkSize` bytes, the last one shorter).
    public func readChunk(_ entry: IndexEntry, chunk i: UInt64) throws -> [UInt8] {
        guard i < index.layout.chunkCount(size: entry.size) else {
            throw ArcaError(.invalidArgument, "\(entry.path) has \(index.layout.chunkCount(size: entry.size)) chunks, no chunk \(i)")
        }
        return try read(entry, offset: index.layout.chunkStart(index: i), length: chunkSize)
    }

    // MARK: authenticated files

    /// Verifies chunk `i` of the authenticated file `entry`, given the bytes read from the
    /// unpacked layer: exactly the chunk's length, with the SHA-256 the index records.
    public func verifyChunk(_ entry: IndexEntry, chunk i: UInt64, plaintext: UnsafeRawBufferPointer) throws {
        guard entry.type == .regular, entry.protection == .authenticated else {
            throw ArcaError(.invalidArgument, "\(entry.path) is not an authenticated regular file")
        }
        guard i < UInt64(entry.chunkDigests.count) else {
            throw ArcaError(.invalidArgument, "\(entry.path) has \(entry.chunkDigests.count) chunks, no chunk \(i)")
        }
        let expected = index.layout.chunkLength(index: i, size: entry.size)
        guard plaintext.count == expected else {
            throw ArcaError(.integrity, "authenticated file \(entry.path), chunk \(i): \(plaintext.count) bytes, expected \(expected)")
        }
        guard ChunkHasher.digest(plaintext).constantTimeEquals(entry.chunkDigests[Int(i)]) else {
            throw ArcaError(.integrity, "authenticated file \(entry.path), chunk \(i): SHA-256 differs from the index")
        }
    }
}
