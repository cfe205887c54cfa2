import ArcaCore
import ArcaTestSupport
import Testing
@testable import ArcaArchive

/// Hostile input for the ISA-L gzip decompressor: every prefix, every flipped bit of the
/// wrapper, lying lengths, members and headers split across reads of any size. Every outcome
/// is the original bytes or an `ArcaError`, never other bytes, a crash or a hang.
@Suite struct GzipInflateTests {
    static let text = Array(String(repeating: "the quick brown fox jumps over the lazy dog 0123456789\n", count: 60).utf8)

    func gzip(_ bytes: [UInt8], level: Int32 = 6) throws -> [UInt8] {
        let sink = MemorySink()
        let compressor = LayerCompression.gzip.compressing(sink, level: level)
        try compressor.write(bytes)
        try compressor.finish()
        return sink.bytes
    }

    /// Decompresses with input arriving `inputStep` bytes at a time and output read `outputStep` at a time.
    func gunzip(_ bytes: [UInt8], inputStep: Int = 1 << 20, outputStep: Int = 1 << 20, limit: Int64 = 1 << 30) throws -> [UInt8] {
        let source = GzipDecompressor(TrickleSource(bytes, chunk: inputStep), limit: limit)
        return try readToEnd(source, step: outputStep)
    }

    /// The outcome of decompressing `bytes`: the output, or the error (an `ArcaError` is required).
    func outcome(_ bytes: [UInt8], inputStep: Int = 1 << 20) -> Result<[UInt8], ArcaError>? {
        do {
            return .success(try gunzip(bytes, inputStep: inputStep))
        } catch let error as ArcaError {
            return .failure(error)
        } catch {
            Issue.record("not an ArcaError: \(error)")
            return nil
        }
    }

    @Test func inputAndOutputInAnyStepsGiveTheSameBytes() throws {
        let sample = Self.text + pseudoRandomBytes(70_000) + [UInt8](repeating: 0, count: 100_000)
        let packed = try gzip(sample) + gzip([]) + gzip(Self.text, level: 1)
        let expected = sample + Self.text
        for (input, output) in [(1, 1 << 20), (7, 3), (4096, 1), (1 << 20, 1000), (13, 300_000)] {
            #expect(try gunzip(packed, inputStep: input, outputStep: output) == expected, "input \(input), output \(output)")
        }
    }

    @Test func everyTruncationIsAnError() throws {
        let packed = try gzip(Self.text)
        for cut in 0..<packed.count {
            for step in [1, 1 << 20] {
                guard case .failure(let error)? = outcome(Array(packed.prefix(cut)), inputStep: step) else {
                    Issue.record("a stream cut at \(cut) of \(packed.count) bytes decoded")
                    continue
                }
                #expect(error.code == .invalidFormat && error.message.contains("gzip"), "cut \(cut): \(error.message)")
            }
        }
        // Cut inside the second member too.
        let second = try gzip([1, 2, 3])
        for cut in 1..<second.count {
            guard case .failure? = outcome(packed + Array(second.prefix(cut))) else {
                Issue.record("a second member cut at \(cut) decoded")
                continue
            }
        }
    }

    @Test func everyFlippedBitGivesTheOriginalOrAnError() throws {
        let packed = try gzip(Self.text)
        for position in 0..<packed.count {
            for bit in [0, 3, 7] {
                var corrupt = packed
                corrupt[position] ^= UInt8(1 << bit)
                switch outcome(corrupt) {
                case .success(let bytes)?:
                    // Only what no check covers may change without an error: header fields that
                    // are hints (FTEXT, MTIME, XFL, OS) and padding bits of deflate blocks — never
                    // the magic, the method or the trailer.
                    #expect(bytes == Self.text, "flip at \(position).\(bit) decoded to other bytes")
                    #expect(position > 2 && position < packed.count - 8, "flip at \(position).\(bit) went unnoticed")
                case .failure(let error)?:
                    #expect(error.code == .invalidFormat || error.code == .limitExceeded, "flip at \(position).\(bit): \(error)")
                case nil:
                    break
                }
            }
        }
    }

    @Test func lyingTrailerLengthsAreErrors() throws {
        let packed = try gzip(Self.text)
        for delta: UInt32 in [1, 0xffff_ffff, 1 << 31, UInt32(Self.text.count)] {
            var corrupt = packed
            let size = UInt32(Self.text.count) &+ delta
            for k in 0..<4 { corrupt[corrupt.count - 4 + k] = UInt8(truncatingIfNeeded: size >> (8 * k)) }
            expectError(.invalidFormat, mentioning: "gzip", "incorrect data check") { _ = try gunzip(corrupt) }
        }
        var crc = packed
        crc[crc.count - 8] ^= 0x01
        expectError(.invalidFormat, mentioning: "incorrect data check") { _ = try gunzip(crc) }
    }

    @Test func hostileHeadersAreErrors() throws {
        let body = Array(try gzip(Self.text).dropFirst(10))
        // FEXTRA whose length runs past the end of the stream.
        expectError(.invalidFormat, mentioning: "gzip") { _ = try gunzip([0x1f, 0x8b, 8, 0x04, 0, 0, 0, 0, 0, 255, 0xff, 0xff, 1, 2, 3]) }
        // FNAME that never ends.
        expectError(.invalidFormat, mentioning: "gzip") { _ = try gunzip([0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 255] + [UInt8](repeating: 0x41, count: 5000)) }
        // A method other than deflate.
        expectError(.invalidFormat, mentioning: "gzip") { _ = try gunzip([0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 255] + body) }
        // A header CRC (FHCRC) that does not match.
        expectError(.invalidFormat, mentioning: "gzip") { _ = try gunzip([0x1f, 0x8b, 8, 0x02, 0, 0, 0, 0, 0, 255, 0x12, 0x34] + body) }
        // A stored block whose NLEN is not the complement of LEN, and one longer than the stream.
        let header: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]
        expectError(.invalidFormat, mentioning: "gzip") { _ = try gunzip(header + [0x01, 0x05, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5] + [UInt8](repeating: 0, count: 8)) }
        expectError(.invalidFormat, mentioning: "gzip") { _ = try gunzip(header + [0x01, 0xff, 0xff, 0x00, 0x00, 1, 2, 3]) }
        // Reserved block type 3.
        expectError(.invalidFormat, mentioning: "gzip") { _ = try gunzip(header + [0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0]) }
        // A valid header with a name, an extra field and a comment decodes.
        let fancy: [UInt8] = [0x1f, 0x8b, 8, 0x04 | 0x08 | 0x10, 0, 0, 0, 0, 0, 3, 3, 0, 9, 9, 9] + Array("name\0comment\0".utf8) + body
        for step in [1, 2, 3, 4, 5, 8, 15, 16, 17, 28, 29, 1 << 20] {
            do {
                #expect(try gunzip(fancy, inputStep: step) == Self.text, "reads of \(step)")
            } catch {
                Issue.record("reads of \(step): \(error)")
            }
        }
    }

    @Test func garbageAfterAMemberIsAnError() throws {
        let packed = try gzip(Self.text)
        for tail: [UInt8] in [[0], [0x1f], [0x1f, 0x8b], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255], Array("PK\u{3}\u{4}".utf8)] {
            for step in [1, 1 << 20] {
                expectError(.invalidFormat, mentioning: "gzip") { _ = try gunzip(packed + tail, inputStep: step) }
            }
        }
    }

    @Test func bombsStopAtTheLimitWhateverTheReadSize() throws {
        let packed = try gzip([UInt8](repeating: 0, count: 4 << 20))
        for step in [1, 100_000, 1 << 20] {
            let source = GzipDecompressor(MemorySource(packed), limit: 1 << 20)
            var buffer = [UInt8](repeating: 0, count: step)
            expectError(.limitExceeded, mentioning: "maxLayerSize") {
                while try buffer.withUnsafeMutableBytes({ try source.read(into: $0) }) > 0 {}
            }
        }
    }
}
