import ArcaCore
import CZlib

/// A gzip compressor that uses several cores, as pigz does: the input is cut into fixed blocks,
/// each block is deflated on its own (primed with the previous block's last 32 KiB as the
/// dictionary, so the ratio barely changes) and ended with a sync flush, and the pieces are
/// concatenated into one ordinary gzip member. The output depends only on the input, the level
/// and the block size — never on the number of threads or their timing — so it is deterministic.
final class ParallelGzipCompressor: ByteSink {
    static let blockSize = 256 * 1024
    static let dictionarySize = 32 * 1024
    /// Blocks compressed per parallel round; bounds memory to about twice this many blocks.
    static let blocksPerRound = 8

    private let sink: any ByteSink
    private let level: Int32
    private let width: Int
    private var pending: [UInt8] = []
    private var dictionary: [UInt8] = []
    private var crc: UInt = 0
    private var totalSize: UInt64 = 0
    private var started = false
    private var finished = false

    init(_ sink: any ByteSink, level: Int32, width: Int = ProcessInfoLite.activeProcessorCount) {
        self.sink = sink
        self.level = level
        self.width = max(1, width)
        pending.reserveCapacity(Self.blockSize * Self.blocksPerRound)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !finished else { throw ArcaError(.io, "write to a finished gzip stream") }
        try start()
        var rest = bytes
        let round = Self.blockSize * Self.blocksPerRound
        while !rest.isEmpty {
            let take = min(rest.count, round - pending.count)
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest.prefix(take)))
            rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst(take))
            if pending.count == round { try compressPending() }
        }
    }

    func finish() throws {
        guard !finished else { return }
        try start()
        finished = true
        try compressPending()
        // A final, empty fixed-Huffman block (BFINAL=1, BTYPE=01, end-of-block) closes the deflate stream.
        try sink.write([0x03, 0x00])
        var trailer = [UInt8](repeating: 0, count: 8)
        for index in 0..<4 {
            trailer[index] = UInt8(truncatingIfNeeded: UInt32(crc) >> (8 * index))
            trailer[4 + index] = UInt8(truncatingIfNeeded: UInt32(truncatingIfNeeded: totalSize) >> (8 * index))
        }
        try sink.write(trailer)
        try sink.finish()
    }

    private func start() throws {
        guard !started else { return }
        guard (1...9).contains(level) else { throw ArcaError(.invalidArgument, "gzip level \(level) is outside 1…9") }
        started = true
        // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255 (unknown): no name, no time.
        try sink.write([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff])
    }

    private func compressPending() throws {
        guard !pending.isEmpty else { return }
        let input = pending
        let blockCount = (input.count + Self.blockSize - 1) / Self.blockSize
        let level = self.level
        let firstDictionary = dictionary
        let outputs = try Parallel.map(blockCount, width: width) { index in
            let start = index * Self.blockSize
            let end = min(start + Self.blockSize, input.count)
            let dictionary = index == 0 ? firstDictionary : Array(input[max(0, start - Self.dictionarySize)..<start])
            return try Self.deflateBlock(input[start..<end], dictionary: dictionary, level: level)
        }
        for (index, output) in outputs.enumerated() {
            try sink.write(output.bytes)
            let length = min(Self.blockSize, input.count - index * Self.blockSize)
            crc = crc32_combine(crc, output.crc, off_t(length))
        }
        totalSize += UInt64(input.count)
        dictionary = Array(input.suffix(Self.dictionarySize))
        pending.removeAll(keepingCapacity: true)
    }

    /// Deflates one block as raw deflate data ending in a sync flush (byte-aligned, not final).
    private static func deflateBlock(_ block: ArraySlice<UInt8>, dictionary: [UInt8], level: Int32) throws -> (bytes: [UInt8], crc: UInt) {
        // zlib keeps a pointer back to its z_stream, so the stream needs a stable address.
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deallocate() }
        guard deflateInit2_(stream, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ArcaError(.io, "cannot initialize zlib")
        }
        defer { deflateEnd(stream) }
        if !dictionary.isEmpty {
            let status = dictionary.withUnsafeBufferPointer { deflateSetDictionary(stream, $0.baseAddress, uInt($0.count)) }
            guard status == Z_OK else { throw ArcaError(.io, "cannot set the deflate dictionary (zlib status \(status))") }
        }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(stream, uLong(block.count))) + 64)
        let (produced, status, crc) = block.withUnsafeBufferPointer { input -> (Int, Int32, UInt) in
            output.withUnsafeMutableBufferPointer { out -> (Int, Int32, UInt) in
                stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.pointee.avail_in = uInt(input.count)
                stream.pointee.next_out = out.baseAddress
                stream.pointee.avail_out = uInt(out.count)
                let status = deflate(stream, Z_SYNC_FLUSH)
                let crc = crc32(0, input.baseAddress, uInt(input.count))
                return (out.count - Int(stream.pointee.avail_out), status, crc)
            }
        }
        guard status == Z_OK, stream.pointee.avail_in == 0 else {
            throw ArcaError(.io, "gzip compression of a block failed with zlib status \(status)")
        }
        output.removeSubrange(produced...)
        return (output, crc)
    }
}
