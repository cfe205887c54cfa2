import ArcaCore
import CIsal

/// Inflates a gzip stream with ISA-L's igzip (2–3× zlib's inflate on x86-64): every member of
/// a multi-member stream, each member's CRC-32 and ISIZE checked; trailing garbage, truncation
/// and an empty stream are errors.
final class GzipDecompressor: ByteSource {
    /// Reads smaller than this are served from `output`: igzip decodes fastest into a large buffer.
    private static let outputSize = 256 * 1024
    private let source: any ByteSource
    private let limit: Int64
    private let state: UnsafeMutablePointer<inflate_state>
    private let input: UnsafeMutableRawBufferPointer
    private let output: UnsafeMutableRawBufferPointer
    private var outputStart = 0
    private var outputEnd = 0
    private var inputEnded = false
    private var memberEnded = false
    private var finished = false
    private var total: Int64 = 0
    private var sawInput = false

    init(_ source: any ByteSource, limit: Int64) {
        self.source = source
        self.limit = limit
        // inflate_state is ~90 KiB of tables and history: zeroed on the heap, not built on the stack.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<inflate_state>.size,
                                                   alignment: MemoryLayout<inflate_state>.alignment)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<inflate_state>.size)
        state = raw.bindMemory(to: inflate_state.self, capacity: 1)
        isal_inflate_init(state)
        state.pointee.crc_flag = UInt32(ISAL_GZIP)
        input = .allocate(byteCount: 128 * 1024, alignment: 64)
        output = .allocate(byteCount: Self.outputSize, alignment: 64)
    }

    deinit {
        UnsafeMutableRawPointer(state).deallocate()
        input.deallocate()
        output.deallocate()
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        if outputStart < outputEnd {
            let n = min(buffer.count, outputEnd - outputStart)
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: output[outputStart..<(outputStart + n)]))
            outputStart += n
            return n
        }
        guard !finished else { return 0 }
        if buffer.count >= Self.outputSize / 2 { return try inflate(into: buffer) }
        outputStart = 0
        outputEnd = try inflate(into: output)
        return try read(into: buffer)
    }

    /// Inflates into `buffer`; returns the byte count, 0 only at the end of the last member.
    private func inflate(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            if state.pointee.avail_in == 0, !inputEnded { try refill() }
            if memberEnded {
                if state.pointee.avail_in == 0 {
                    if inputEnded {
                        finished = true
                        return 0
                    }
                    continue
                }
                guard state.pointee.next_in.pointee == 0x1f else {
                    throw ArcaError(.invalidFormat, "gzip stream has trailing garbage after \(total) decompressed bytes")
                }
                // The next member starts at next_in: igzip hands back the bytes it read ahead
                // once it has checked a member's trailer.
                let next = state.pointee.next_in
                let available = state.pointee.avail_in
                isal_inflate_reset(state)
                state.pointee.crc_flag = UInt32(ISAL_GZIP)
                state.pointee.next_in = next
                state.pointee.avail_in = available
                memberEnded = false
            }
            let capacity = UInt32(min(buffer.count, Int(UInt32.max)))
            let before = state.pointee.avail_in
            state.pointee.next_out = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            state.pointee.avail_out = capacity
            let status = isal_inflate(state)
            let produced = Int(capacity - state.pointee.avail_out)
            guard status == ISAL_DECOMP_OK || status == ISAL_END_INPUT || status == ISAL_OUT_OVERFLOW else {
                throw ArcaError(.invalidFormat, "gzip stream is corrupt after \(total) decompressed bytes: \(Self.describe(status))")
            }
            if state.pointee.block_state == ISAL_BLOCK_FINISH { memberEnded = true }
            if produced > 0 {
                total += Int64(produced)
                guard total <= limit else { throw decompressedTooLarge(limit) }
                return produced
            }
            if !memberEnded {
                // Without input, a call that produced nothing means the member never ended.
                if state.pointee.avail_in == 0, inputEnded {
                    throw ArcaError(.invalidFormat, sawInput ? "gzip stream is truncated after \(total) decompressed bytes" : "gzip stream is empty")
                }
                // igzip takes partial headers and blocks into its own buffers; a call that neither
                // consumed nor produced would loop forever, so it is refused.
                if state.pointee.avail_in > 0, state.pointee.avail_in == before {
                    throw ArcaError(.invalidFormat, "gzip stream is corrupt after \(total) decompressed bytes: inflate made no progress")
                }
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
        state.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
        state.pointee.avail_in = UInt32(n)
    }

    private static func describe(_ status: Int32) -> String {
        switch status {
        case ISAL_INVALID_BLOCK: "invalid deflate block"
        case ISAL_INVALID_SYMBOL: "invalid deflate code"
        case ISAL_INVALID_LOOKBACK: "invalid distance too far back"
        case ISAL_INVALID_WRAPPER: "invalid gzip header"
        case ISAL_UNSUPPORTED_METHOD: "unknown compression method"
        case ISAL_INCORRECT_CHECKSUM: "incorrect data check (CRC-32 or length)"
        case ISAL_NEED_DICT: "needs a preset dictionary"
        default: "igzip error \(status)"
        }
    }
}
