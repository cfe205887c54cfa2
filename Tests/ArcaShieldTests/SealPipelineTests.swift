import ArcaCore
import ArcaCrypto
import ArcaTestSupport
@testable import ArcaShield
import Testing

/// `SealedBlobSource` with a producer sealing groups ahead of the reader: the same bytes at any
/// width and read size, errors surfacing in order, and a reader that stops early.
@Suite struct SealPipelineTests {
    // 4 KiB chunks: 64-chunk batches of 256 KiB, so a few MiB make many groups and wrap the ring.
    static let chunkSize = 4096
    static let content: [UInt8] = (0..<2_700_000).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) }

    func sealer() throws -> StreamSealer {
        try StreamSealer.hashing(MemoryBytes(Self.content), size: UInt64(Self.content.count), masterKey: try MasterKey(bytes: Array(repeating: 0x5a, count: 32)),
                                 layout: try ChunkLayout(chunkSize: Self.chunkSize), parallelism: 2)
    }

    func blob(width: Int, content: [UInt8] = SealPipelineTests.content, readSize: Int = 1 << 16) throws -> [UInt8] {
        let source = SealedBlobSource(sealer: try sealer(), content: MemoryBytes(content), parallelism: width)
        return try readToEnd(source, step: readSize)
    }

    @Test func everyWidthAndReadSizeGivesTheSameBlob() throws {
        let expected = try blob(width: 1)
        let sealer = try sealer()
        #expect(UInt64(expected.count) == sealer.blobSize)
        #expect(Array(expected.prefix(64)) == sealer.blobHeader)
        for (width, readSize) in [(2, 1 << 16), (2, 7), (3, 1_000_003), (8, 4096 + 16)] {
            #expect(try blob(width: width, readSize: readSize) == expected, "width \(width), reads of \(readSize)")
        }
    }

    @Test func contentThatChangedOrEndsEarlyIsAnErrorAtAnyWidth() throws {
        var changed = Self.content
        changed[2_000_000] ^= 1
        var truncated = Self.content
        truncated.removeLast(100_000)
        for width in [1, 2, 4] {
            let error = try #require(throws: ArcaError.self) { _ = try blob(width: width, content: changed) }
            #expect(error.code == .integrity && error.message.contains("changed between hashing and sealing"))
            let short = try #require(throws: ArcaError.self) { _ = try blob(width: width, content: truncated) }
            #expect(short.code == .integrity && short.message.contains("truncated"))
        }
    }

    @Test func aReaderThatStopsEarlyLeavesNothingRunning() throws {
        for width in [2, 4] {
            for stopAfter in [1, 300_000, 2_000_000] {
                let source = SealedBlobSource(sealer: try sealer(), content: MemoryBytes(Self.content), parallelism: width)
                var buffer = [UInt8](repeating: 0, count: 50_000)
                var read = 0
                while read < stopAfter {
                    let n = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
                    #expect(n > 0)
                    read += n
                }
            }
        }
        // The producers stopped: sealing again from scratch still gives the one blob.
        #expect(try blob(width: 2) == blob(width: 1))
    }
}
