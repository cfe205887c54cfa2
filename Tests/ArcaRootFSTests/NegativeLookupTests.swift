import ArcaCore
import ArcaFUSE
import ArcaTestSupport
import Foundation
import Synchronization
import Testing

/// A name that does not exist is asked for once while `negativeTimeout` lasts (python probes the
/// same missing names at every start); with 0 the kernel asks every time.
@Suite struct NegativeLookupTests {
    func missingNameLookups(negativeTimeout: Double) async throws -> (missing: Int, present: Int) {
        try await Fixture.withTemporaryDirectory { dir in
            try FileSystem.makeDirectories(dir + "/mnt")
            let fs = OneFileSystem()
            var options = MountOptions()
            options.negativeTimeout = negativeTimeout
            let mount = try FUSEMount.mount(fs, at: dir + "/mnt", options: options)
            defer { try? mount.unmount(timeout: 5) }
            for _ in 0..<5 {
                var info = stat()
                #expect(stat(mount.mountpoint + "/missing", &info) == -1 && errno == ENOENT)
                #expect(stat(mount.mountpoint + "/file", &info) == 0)
            }
            return fs.lookups.withLock { ($0["missing", default: 0], $0["file", default: 0]) }
        }
    }

    @Test func missingNamesAreRememberedForTheTimeout() async throws {
        let counts = try await missingNameLookups(negativeTimeout: 86_400)
        #expect(counts.missing == 1)
        #expect(counts.present == 1)
    }

    @Test func withoutATimeoutEveryMissAsksAgain() async throws {
        let counts = try await missingNameLookups(negativeTimeout: 0)
        #expect(counts.missing == 5)
    }
}
