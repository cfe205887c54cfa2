import ArcaCore
import CIsal
import CZlib

/// Inflates a gzip stream with ISA-L's igzip (2–3× zlib's inflate on x86-64): every member of
/// a multi-member stream, each member's CRC-32 and ISIZE checked; trailing garbage, truncation
/// and an empty stream are errors. Each member's header (RFC 1952: FEXTRA, FNAME, FCOMMENT,
/// FHCRC) is parsed here, byte by byte as input arrives, and igzip gets the raw deflate data and
/// checks the trailer (`ISAL_GZIP_NO_HDR_VER`): with igzip parsing headers itself, headers with
/// several optional fields that arrived across several reads failed to decode (GzipInflateTests).
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
    private var header = HeaderParser()

    init(_ source: any ByteSource, limit: Int64) {
        self.source = source
        self.limit = limit
        // inflate_state is ~90 KiB of tables and history: zeroed on the heap, not built on the stack.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<inflate_state>.size,
                                                   alignment: MemoryLayout<inflate_state>.alignment)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<inflate_state>.size)
        state = raw.bindMemory(to: inflate_state.self, capacity: 1)
        isal_inflate_init(state)
        state.pointee.crc_flag = UInt32(ISAL_GZIP_NO_HDR_VER)
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
                state.pointee.crc_flag = UInt32(ISAL_GZIP_NO_HDR_VER)
                state.pointee.next_in = next
                state.pointee.avail_in = available
                memberEnded = false
                header = HeaderParser()
            }
            if !header.done {
                let available = Int(state.pointee.avail_in)
                if available > 0 {
                    let used = try header.consume(UnsafeRawBufferPointer(start: state.pointee.next_in, count: available), after: total)
                    state.pointee.next_in += used
                    state.pointee.avail_in -= UInt32(used)
                }
                if !header.done {
                    if inputEnded { throw ArcaError(.invalidFormat, sawInput ? "gzip stream is truncated in a member header after \(total) decompressed bytes" : "gzip stream is empty") }
                    continue
                }
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

/// The header of one gzip member (RFC 1952 §2.3), read from input as it arrives: checked (magic,
/// method, reserved flags, header CRC) and skipped; memory stays constant whatever its length.
struct HeaderParser {
    private enum Step { case fixed, extraLength, extra(Int), name, comment, headerCRC, done }
    private var step = Step.fixed
    private var collected: [UInt8] = []
    private var flags: UInt8 = 0
    private var crc: UInt = crc32(0, nil, 0)

    var done: Bool {
        if case .done = step { return true }
        return false
    }

    /// Consumes header bytes from the start of `input`; returns how many (all of them unless the
    /// header ended inside `input`).
    mutating func consume(_ input: UnsafeRawBufferPointer, after total: Int64) throws -> Int {
        var used = 0
        while used < input.count, !done {
            let byte = input[used]
            used += 1
            if case .headerCRC = step {} else { crc = crc32(crc, [byte], 1) }
            switch step {
            case .fixed:
                collected.append(byte)
                guard collected.count == 10 else { continue }
                guard collected[0] == 0x1f, collected[1] == 0x8b else { throw Self.invalid("not a gzip member (bad magic)", total) }
                guard collected[2] == 8 else { throw Self.invalid("unknown compression method \(collected[2])", total) }
                flags = collected[3]
                guard flags & 0xe0 == 0 else { throw Self.invalid("reserved header flags are set", total) }
                collected = []
                advance(from: 1)
            case .extraLength:
                collected.append(byte)
                guard collected.count == 2 else { continue }
                let length = Int(collected[0]) | Int(collected[1]) << 8
                collected = []
                if length > 0 { step = .extra(length) } else { advance(from: 2) }
            case .extra(let left):
                if left > 1 { step = .extra(left - 1) } else { advance(from: 2) }
            case .name:
                if byte == 0 { advance(from: 3) }
            case .comment:
                if byte == 0 { advance(from: 4) }
            case .headerCRC:
                collected.append(byte)
                guard collected.count == 2 else { continue }
                guard UInt16(collected[0]) | UInt16(collected[1]) << 8 == UInt16(truncatingIfNeeded: crc) else {
                    throw Self.invalid("the header CRC does not match", total)
                }
                step = .done
            case .done:
                break
            }
        }
        return used
    }

    /// Moves to the first optional field at or after `position` (1 extra, 2 name, 3 comment,
    /// 4 header CRC) that the flags name, or to the end of the header.
    private mutating func advance(from position: Int) {
        if position <= 1, flags & 0x04 != 0 { step = .extraLength; return }
        if position <= 2, flags & 0x08 != 0 { step = .name; return }
        if position <= 3, flags & 0x10 != 0 { step = .comment; return }
        if position <= 4, flags & 0x02 != 0 { step = .headerCRC; return }
        step = .done
    }

    private static func invalid(_ reason: String, _ total: Int64) -> ArcaError {
        ArcaError(.invalidFormat, "gzip stream has an invalid member header after \(total) decompressed bytes: \(reason)")
    }
}
