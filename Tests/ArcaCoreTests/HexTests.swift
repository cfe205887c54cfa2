import ArcaCore
import Testing

@Suite struct HexTests {
    @Test func roundTrip() {
        let bytes: [UInt8] = [0, 1, 0xab, 0xff]
        #expect(Hex.encode(bytes) == "0001abff")
        #expect(Hex.decode("0001ABff") == bytes)
    }

    @Test func rejectsBadInput() {
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
    }

    @Test func formatsBytes() {
        #expect(formatBytes(17) == "17 B")
        #expect(formatBytes(512 * 1024) == "512 KiB")
        #expect(formatBytes(3 * 1024 * 1024 * 1024 + 100 * 1024 * 1024) == "3.1 GiB")
    }

    @Test func limitedSourceStopsAtLimit() throws {
        let source = LimitedSource(MemorySource(Array(repeating: 7, count: 100)), limit: 10)
        let bytes = try source.readAll(limit: 1000, what: "test")
        #expect(bytes.count == 10)
    }
}
