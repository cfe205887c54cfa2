import ArcaCore
import ArcaTestSupport
import Testing
@testable import ArcaArchive

@Suite struct CompressionTests {
    static let sample = pseudoRandomBytes(300_000) + [UInt8](repeating: 7, count: 200_000) + Array("hello tar".utf8)

    func compress(_ bytes: [UInt8], _ compression: LayerCompression, level: Int32? = nil) throws -> [UInt8] {
        let sink = MemorySink()
        let compressor = compression.compressing(sink, level: level ?? compression.defaultLevel)
        // Several writes, including an empty one, to exercise the streaming path.
        try compressor.write(Array(bytes.prefix(1000)))
        try compressor.write([UInt8]())
        try compressor.write(Array(bytes.dropFirst(1000)))
        try compressor.finish()
        return sink.bytes
    }

    func decompress(_ bytes: [UInt8], _ compression: LayerCompression, limits: ArchiveLimits = .default) throws -> [UInt8] {
        try compression.decompressing(MemorySource(bytes), limits: limits).readAll(limit: 1 << 28, what: "test")
    }

    @Test(arguments: [LayerCompression.gzip, .zstd, .none])
    func roundTrip(_ compression: LayerCompression) throws {
        let packed = try compress(Self.sample, compression)
        if compression != .none { #expect(packed.count < Self.sample.count) }
        #expect(LayerCompression.detect(Array(packed.prefix(8))) == compression)
        #expect(try decompress(packed, compression) == Self.sample)
    }

    @Test func gzipIsDeterministicWithAFixedHeader() throws {
        let first = try compress(Self.sample, .gzip)
        let second = try compress(Self.sample, .gzip)
        #expect(first == second)
        // magic, deflate, no flags (no name), mtime 0, then XFL and OS 255.
        #expect(Array(first.prefix(8)) == [0x1f, 0x8b, 8, 0, 0, 0, 0, 0])
        #expect(first[9] == 255)
        let fast = try compress(Self.sample, .gzip, level: 1)
        #expect(fast != first)
        #expect(try decompress(fast, .gzip) == Self.sample)
    }

    @Test func zstdIsDeterministic() throws {
        #expect(try compress(Self.sample, .zstd) == compress(Self.sample, .zstd))
    }

    @Test func refusesBadLevels() throws {
        expectError(.invalidArgument, mentioning: "gzip level 12") { _ = try compress([1, 2, 3], .gzip, level: 12) }
        expectError(.invalidArgument, mentioning: "zstd level 40") { _ = try compress([1, 2, 3], .zstd, level: 40) }
    }

    @Test(arguments: [("gzip", LayerCompression.gzip), ("zstd", LayerCompression.zstd)])
    func systemToolDecodesOurStream(tool: String, compression: LayerCompression) async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let path = directory + "/data.z"
            try FileSystem.writeAtomically(try compress(Self.sample, compression), to: path)
            let result = try run([tool, "-d", "-c", path])
            #expect(result.status == 0)
            #expect(result.output == Self.sample)
        }
    }

    @Test(arguments: [("gzip", LayerCompression.gzip), ("zstd", LayerCompression.zstd)])
    func weDecodeTheSystemTool(tool: String, compression: LayerCompression) async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let path = directory + "/data"
            try FileSystem.writeAtomically(Self.sample, to: path)
            let result = try run([tool, "-c", path])
            #expect(result.status == 0)
            #expect(try decompress(result.output, compression) == Self.sample)
        }
    }

    @Test func multiMemberGzipDecodesFully() async throws {
        let first = try compress(Array("first member\n".utf8), .gzip)
        let second = try compress(Self.sample, .gzip)
        #expect(try decompress(first + second, .gzip) == Array("first member\n".utf8) + Self.sample)
        // And a multi-member stream made by gzip itself.
        try await Fixture.withTemporaryDirectory { directory in
            try FileSystem.writeAtomically(Array("abc".utf8), to: directory + "/a")
            try FileSystem.writeAtomically(Array("def".utf8), to: directory + "/b")
            let a = try run(["gzip", "-c", directory + "/a"]).output
            let b = try run(["gzip", "-c", directory + "/b"]).output
            #expect(try decompress(a + b, .gzip) == Array("abcdef".utf8))
        }
    }

    @Test func gzipTrailingGarbageIsAnError() throws {
        let packed = try compress(Self.sample, .gzip)
        expectError(.invalidFormat, mentioning: "trailing garbage") { _ = try decompress(packed + [0x00, 0x01, 0x02], .gzip) }
        expectError(.invalidFormat, mentioning: "gzip") { _ = try decompress(packed + [0x1f, 0x00, 0x00], .gzip) }
    }

    @Test(arguments: [LayerCompression.gzip, .zstd])
    func truncationAtEveryRegionIsAnError(_ compression: LayerCompression) throws {
        let packed = try compress(Self.sample, compression)
        for cut in [1, 2, 5, 10, packed.count / 2, packed.count - 5, packed.count - 1] {
            expectError(.invalidFormat, mentioning: compression.rawValue) { _ = try decompress(Array(packed.prefix(cut)), compression) }
        }
        expectError(.invalidFormat, mentioning: "empty") { _ = try decompress([], compression) }
    }

    @Test(arguments: [LayerCompression.gzip, .zstd])
    func flippedBitsAreDetected(_ compression: LayerCompression) throws {
        let packed = try compress(Self.sample, compression)
        for position in [packed.count / 3, packed.count / 2, packed.count - 3] {
            var corrupt = packed
            corrupt[position] ^= 0x10
            expectError(.invalidFormat, mentioning: compression.rawValue) { _ = try decompress(corrupt, compression) }
        }
    }

    @Test(arguments: [LayerCompression.gzip, .zstd, .none])
    func decompressionBombStopsAtTheLimit(_ compression: LayerCompression) throws {
        let zeros = [UInt8](repeating: 0, count: 8 << 20)
        let packed = try compress(zeros, compression)
        if compression != .none { #expect(packed.count < 64 << 10) }
        let limits = ArchiveLimits(maxLayerSize: 1 << 20)
        expectError(.limitExceeded, mentioning: "1 MiB", "maxLayerSize") { _ = try decompress(packed, compression, limits: limits) }
    }

    @Test func detectsByMagic() {
        #expect(LayerCompression.detect([0x1f, 0x8b, 8]) == .gzip)
        #expect(LayerCompression.detect([0x28, 0xb5, 0x2f, 0xfd, 0]) == .zstd)
        #expect(LayerCompression.detect(Array("ustar".utf8)) == .none)
        #expect(LayerCompression.detect([0x1f]) == .none)
        #expect(LayerCompression.detect([]) == .none)
    }
}
