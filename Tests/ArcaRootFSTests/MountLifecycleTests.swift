import ArcaCore
import ArcaFUSE
import ArcaTestSupport
import Dispatch
import Foundation
import Synchronization
import Testing

@Suite struct MountLifecycleTests {
    @Test func abortFreesAReaderStuckOnAHungServerAndUnmountCompletes() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            try FileSystem.makeDirectories(dir + "/mnt")
            let fs = OneFileSystem()
            let mount = try FUSEMount.mount(fs, at: dir + "/mnt")
            defer { fs.released.withLock { $0 = true }; try? mount.unmount(timeout: 5) }
            #expect(FileSystem.exists(mount.mountpoint + "/file"))

            let result = Mutex<Int32?>(nil)
            let reader = DispatchWorkItem {
                let fd = open(mount.mountpoint + "/file", O_RDONLY)
                var byte: UInt8 = 0
                let n = read(fd, &byte, 1)
                let code = n < 0 ? errno : 0
                close(fd)
                result.withLock { $0 = code }
            }
            DispatchQueue.global().async(execute: reader)
            let start = Date()
            while !fs.entered.withLock({ $0 }), Date().timeIntervalSince(start) < 20 { usleep(1_000) }
            #expect(fs.entered.withLock { $0 }, "the read reached the server")
            #expect(result.withLock { $0 } == nil, "the reader is blocked")

            try mount.abort()
            #expect(reader.wait(timeout: .now() + 10) == .success, "abort unblocked the reader")
            let code = result.withLock { $0 }
            #expect(code == ENOTCONN || code == ECONNABORTED, "errno \(String(describing: code))")

            fs.released.withLock { $0 = true }
            try mount.unmount(timeout: 10)
            #expect(mount.isStopped)
        }
    }

    @Test func unmountDetachesEvenWhileAFileIsHeldOpen() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            try FileSystem.makeDirectories(dir + "/mnt")
            let fs = OneFileSystem()
            fs.released.withLock { $0 = true }
            let mount = try FUSEMount.mount(fs, at: dir + "/mnt")
            let fd = open(mount.mountpoint + "/file", O_RDONLY)
            #expect(fd >= 0)
            defer { close(fd) }
            let start = Date()
            try mount.unmount(timeout: 1)  // detached; the open file keeps it alive; abort ends it
            #expect(Date().timeIntervalSince(start) < 10)
            #expect(mount.isStopped)
            #expect(!FileSystem.exists(mount.mountpoint + "/file"))
        }
    }
}
