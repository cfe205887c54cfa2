import ArcaCore
@testable import ArcaCommands
import ArcaTestSupport
import Foundation
import Testing

/// `arca seal --cache-limit SIZE`.
@Suite struct CacheLimitTests {
    @Test func sizesInBinaryUnits() throws {
        #expect(try SealCommand.byteSize("0", option: "--cache-limit") == 0)
        #expect(try SealCommand.byteSize("4096", option: "--cache-limit") == 4096)
        #expect(try SealCommand.byteSize("512K", option: "--cache-limit") == 512 << 10)
        #expect(try SealCommand.byteSize("500m", option: "--cache-limit") == 500 << 20)
        #expect(try SealCommand.byteSize("10G", option: "--cache-limit") == 10 << 30)
        #expect(try SealCommand.byteSize("10GiB", option: "--cache-limit") == 10 << 30)
        #expect(try SealCommand.byteSize("2TB", option: "--cache-limit") == 2 << 40)
        #expect(try SealCommand.byteSize("7B", option: "--cache-limit") == 7)
        for bad in ["", "G", "B", "-1", "1.5G", "10X", "ten", "99999999999999T", "1 G"] {
            #expect(throws: (any Error).self, "\(bad)") { try SealCommand.byteSize(bad, option: "--cache-limit") }
        }
    }

    @Test func aBadLimitIsAUsageError() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try SampleImages.umociImage(in: dir)
            let result = try Tool.run(Tool.arca, ["seal", "--from", "oci:\(layout):sample", "--to", "oci:\(dir)/out:x",
                                                  "--cache", dir + "/cache", "--cache-limit", "lots"])
            #expect(result.status != 0)
            #expect(result.stderr.contains("--cache-limit must be a size such as 10G"), "\(result.stderr)")
            #expect(!FileSystem.exists(dir + "/out"))
        }
    }
}
