import ArcaCore
import ArcaCrypto
import Testing

@Suite struct ChunkLayoutTests {
    @Test(arguments: [0, 1, 4095, 4097, 3 * 4096, 2 << 20, -4096])
    func refusesChunkSizesOutsideThePowersOfTwo(_ size: Int) {
        #expect(throws: ArcaError.self) { try ChunkLayout(chunkSize: size) }
    }

    @Test func countsAndLengths() throws {
        let layout = try ChunkLayout()
        #expect(layout.chunkSize == 65536)
        #expect(layout.chunkCount(size: 0) == 0)
        #expect(layout.chunkCount(size: 1) == 1)
        #expect(layout.chunkCount(size: 65536) == 1)
        #expect(layout.chunkCount(size: 65537) == 2)
        #expect(layout.chunkCount(size: 1 << 40) == 1 << 24)
        #expect(layout.chunkLength(index: 0, size: 65537) == 65536)
        #expect(layout.chunkLength(index: 1, size: 65537) == 1)
        #expect(layout.chunkLength(index: 2, size: 65537) == 0)
    }

    @Test func rangesMapToChunks() throws {
        let layout = try ChunkLayout(chunkSize: 4096)
        #expect(layout.chunks(offset: 0, length: 1, size: 10_000) == 0..<1)
        #expect(layout.chunks(offset: 4095, length: 2, size: 10_000) == 0..<2)
        #expect(layout.chunks(offset: 4096, length: 4096, size: 10_000) == 1..<2)
        #expect(layout.chunks(offset: 0, length: 1 << 30, size: 10_000) == 0..<3)
        #expect(layout.chunks(offset: 9_999, length: 100, size: 10_000) == 2..<3)
        #expect(layout.chunks(offset: 10_000, length: 1, size: 10_000).isEmpty)
        #expect(layout.chunks(offset: 5, length: 0, size: 10_000).isEmpty)
        #expect(layout.chunks(offset: UInt64.max - 1, length: UInt64.max, size: UInt64.max).count == 1)
    }
}
