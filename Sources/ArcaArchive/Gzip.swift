import ArcaCore
import CZlib

/// Inflates a gzip stream (all members of a multi-member stream; trailing garbage is an error).
final class GzipDecompressor: ByteSource {
    private let source: any ByteSource
    private let limit: Int64
    private let stream: UnsafeMutablePointer<z_stream>
    private let input: UnsafeMutableRawBufferPointer
    private var initialized = false
    private var inputEnded = false
    private var memberEnded = false
    private var finished = false
    private var total: Int64 = 0
    private var sawInput = false

    init(_ source: any ByteSource, limit: Int64) {
        self.source = source
        self.limit = limit
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        input = .allocate(byteCount: 64 * 1024, alignment: 16)
    }

    deinit {
        if initialized { inflateEnd(stream) }
        stream.deallocate()
        input.deallocate()
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !finished, buffer.count > 0 else { return 0 }
        if !initialized {
            // 16 + MAX_WBITS: expect a gzip wrapper and check its CRC-32 and length.
            guard inflateInit2_(stream, 16 + 15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw ArcaError(.io, "cannot initialize zlib")
            }
            initialized = true
        }
        while true {
            if stream.pointee.avail_in == 0, !inputEnded { try refill() }
            if memberEnded {
                if stream.pointee.avail_in == 0 {
                    if inputEnded {
                        finished = true
                        return 0
                    }
                    continue
                }
                guard stream.pointee.next_in.pointee == 0x1f else {
                    throw ArcaError(.invalidFormat, "gzip stream has trailing garbage after \(total) decompressed bytes")
                }
                inflateReset(stream)
                memberEnded = false
            }
            let capacity = UInt32(min(buffer.count, Int(UInt32.max)))
            stream.pointee.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = capacity
            let status = inflate(stream, Z_NO_FLUSH)
            let produced = Int(capacity - stream.pointee.avail_out)
            switch status {
            case Z_OK, Z_BUF_ERROR: break
            case Z_STREAM_END: memberEnded = true
            default:
                let reason = stream.pointee.msg.map { String(cString: $0) } ?? "error \(status)"
                throw ArcaError(.invalidFormat, "gzip stream is corrupt after \(total) decompressed bytes: \(reason)")
            }
            if produced > 0 {
                total += Int64(produced)
                guard total <= limit else { throw decompressedTooLarge(limit) }
                return produced
            }
            // Without input, a call that produced nothing means the member never ended.
            if !memberEnded, stream.pointee.avail_in == 0, inputEnded {
                throw ArcaError(.invalidFormat, sawInput ? "gzip stream is truncated after \(total) decompressed bytes" : "gzip stream is empty")
            }
        }
    }

    private func refill() throws {
        let n = try source.read(into: input)
        if n == 0 {
            inputEnded = true
            return
        }
        sawInput = true
        stream.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_in = UInt32(n)
    }
}

/// Deflates into a gzip stream with a fixed header (no name, mtime 0, OS 255 "unknown",
/// as Go's compress/gzip writes), so the same input and level always give the same bytes.
final class GzipCompressor: ByteSink {
    private let sink: any ByteSink
    private let level: Int32
    private let stream: UnsafeMutablePointer<z_stream>
    private let header: UnsafeMutablePointer<gz_header>
    private let output: UnsafeMutableRawBufferPointer
    private var initialized = false
    private var finished = false

    init(_ sink: any ByteSink, level: Int32) {
        self.sink = sink
        self.level = level
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        header = .allocate(capacity: 1)
        header.initialize(to: gz_header())
        header.pointee.os = 255
        output = .allocate(byteCount: 64 * 1024, alignment: 16)
    }

    deinit {
        if initialized { deflateEnd(stream) }
        stream.deallocate()
        header.deallocate()
        output.deallocate()
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !finished else { throw ArcaError(.io, "write to a finished gzip stream") }
        try start()
        guard bytes.count > 0 else { return }
        var rest = bytes
        while !rest.isEmpty {
            let chunk = UnsafeRawBufferPointer(rebasing: rest.prefix(Int(UInt32.max / 2)))
            stream.pointee.next_in = UnsafeMutablePointer(mutating: chunk.baseAddress!.assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = UInt32(chunk.count)
            repeat {
                try deflateStep(Z_NO_FLUSH)
            } while stream.pointee.avail_in > 0 || stream.pointee.avail_out == 0
            rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst(chunk.count))
        }
    }

    func finish() throws {
        guard !finished else { return }
        try start()
        finished = true
        stream.pointee.next_in = nil
        stream.pointee.avail_in = 0
        while try deflateStep(Z_FINISH) != Z_STREAM_END {}
        try sink.finish()
    }

    private func start() throws {
        guard !initialized else { return }
        guard (1...9).contains(level) else {
            throw ArcaError(.invalidArgument, "gzip level \(level) is outside 1…9")
        }
        guard deflateInit2_(stream, level, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ArcaError(.io, "cannot initialize zlib")
        }
        initialized = true
        guard deflateSetHeader(stream, header) == Z_OK else { throw ArcaError(.io, "cannot set the gzip header") }
    }

    @discardableResult
    private func deflateStep(_ flush: Int32) throws -> Int32 {
        stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = UInt32(output.count)
        let status = deflate(stream, flush)
        guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
            throw ArcaError(.io, "gzip compression failed with zlib status \(status)")
        }
        let produced = output.count - Int(stream.pointee.avail_out)
        if produced > 0 { try sink.write(UnsafeRawBufferPointer(rebasing: output[..<produced])) }
        return status
    }
}
