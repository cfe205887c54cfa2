import ArcaCore
import CZstd

/// Decompresses a zstd stream (all frames; skippable frames are skipped by libzstd).
final class ZstdDecompressor: ByteSource {
    private let source: any ByteSource
    private let limit: Int64
    private let context: OpaquePointer?
    private let input: UnsafeMutableRawBufferPointer
    private var inBuffer = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
    private var inputEnded = false
    private var frameComplete = true
    private var sawInput = false
    private var total: Int64 = 0

    init(_ source: any ByteSource, limit: Int64) {
        self.source = source
        self.limit = limit
        context = ZSTD_createDStream()
        input = .allocate(byteCount: Int(ZSTD_DStreamInSize()), alignment: 16)
    }

    deinit {
        ZSTD_freeDStream(context)
        input.deallocate()
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        guard let context else { throw ArcaError(.io, "cannot create a zstd decompression context") }
        while true {
            if inBuffer.pos == inBuffer.size, !inputEnded {
                let n = try source.read(into: input)
                if n == 0 {
                    inputEnded = true
                } else {
                    sawInput = true
                    inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: n, pos: 0)
                }
            }
            let noInput = inBuffer.pos == inBuffer.size && inputEnded
            if noInput, frameComplete {
                guard sawInput else { throw ArcaError(.invalidFormat, "zstd stream is empty") }
                return 0
            }
            var outBuffer = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
            let status = ZSTD_decompressStream(context, &outBuffer, &inBuffer)
            if ZSTD_isError(status) != 0 {
                let reason = String(cString: ZSTD_getErrorName(status))
                throw ArcaError(.invalidFormat, "zstd stream is corrupt after \(total) decompressed bytes: \(reason)")
            }
            frameComplete = status == 0
            if outBuffer.pos > 0 {
                total += Int64(outBuffer.pos)
                guard total <= limit else { throw decompressedTooLarge(limit) }
                return outBuffer.pos
            }
            if noInput {
                throw ArcaError(.invalidFormat, "zstd stream is truncated after \(total) decompressed bytes")
            }
        }
    }
}

/// Compresses into one zstd frame with a content checksum (single-threaded, so deterministic).
final class ZstdCompressor: ByteSink {
    private let sink: any ByteSink
    private let level: Int32
    private let context: OpaquePointer?
    private let output: UnsafeMutableRawBufferPointer
    private var configured = false
    private var finished = false

    init(_ sink: any ByteSink, level: Int32) {
        self.sink = sink
        self.level = level
        context = ZSTD_createCCtx()
        output = .allocate(byteCount: Int(ZSTD_CStreamOutSize()), alignment: 16)
    }

    deinit {
        ZSTD_freeCCtx(context)
        output.deallocate()
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !finished else { throw ArcaError(.io, "write to a finished zstd stream") }
        let context = try configure()
        guard bytes.count > 0 else { return }
        var inBuffer = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        while inBuffer.pos < inBuffer.size {
            _ = try step(context, &inBuffer, ZSTD_e_continue)
        }
    }

    func finish() throws {
        guard !finished else { return }
        let context = try configure()
        finished = true
        var inBuffer = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while try step(context, &inBuffer, ZSTD_e_end) != 0 {}
        try sink.finish()
    }

    private func configure() throws -> OpaquePointer {
        guard let context else { throw ArcaError(.io, "cannot create a zstd compression context") }
        guard !configured else { return context }
        guard (1...19).contains(level) else { throw ArcaError(.invalidArgument, "zstd level \(level) is outside 1…19") }
        for (parameter, value) in [(ZSTD_c_compressionLevel, level), (ZSTD_c_checksumFlag, 1)] {
            let status = ZSTD_CCtx_setParameter(context, parameter, value)
            if ZSTD_isError(status) != 0 {
                throw ArcaError(.io, "cannot configure zstd: \(String(cString: ZSTD_getErrorName(status)))")
            }
        }
        configured = true
        return context
    }

    private func step(_ context: OpaquePointer, _ inBuffer: inout ZSTD_inBuffer, _ mode: ZSTD_EndDirective) throws -> Int {
        var outBuffer = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
        let remaining = ZSTD_compressStream2(context, &outBuffer, &inBuffer, mode)
        if ZSTD_isError(remaining) != 0 {
            throw ArcaError(.io, "zstd compression failed: \(String(cString: ZSTD_getErrorName(remaining)))")
        }
        if outBuffer.pos > 0 { try sink.write(UnsafeRawBufferPointer(rebasing: output[..<outBuffer.pos])) }
        return remaining
    }
}
