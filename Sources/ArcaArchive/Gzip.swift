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
