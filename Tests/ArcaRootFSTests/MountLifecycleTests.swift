import ArcaCore
import ArcaFUSE
import ArcaTestSupport
import Dispatch
import Foundation
import Synchronization
import Testing

/// A one-file file system whose reads block until released: a server that hangs.
final class StuckFileSystem: FileSystemOperations {
    let released = Mutex(false)
    let entered = Mutex(false)

    private func attributes(_ inode: UInt64) -> FileAttributes {
        FileAttributes(inode: inode, mode: inode == 1 ? S_IFDIR | 0o755 : S_IFREG | 0o644, linkCount: inode == 1 ? 2 : 1,
                       uid: 0, gid: 0, size: inode == 1 ? 0 : 10, modificationSeconds: 0, modificationNanoseconds: 0)
    }

    func lookup(parent: UInt64, name: UnsafeRawBufferPointer) throws -> FileAttributes {
        guard parent == 1, name.elementsEqual("file".utf8) else { throw FUSEError.noEntry }
        return attributes(2)
    }
    func attributes(inode: UInt64) throws -> FileAttributes {
        guard inode == 1 || inode == 2 else { throw FUSEError.noEntry }
        return attributes(inode)
    }
    func readLink(inode: UInt64) throws -> [UInt8] { throw FUSEError.invalid }
    func open(inode: UInt64, flags: Int32) throws -> UInt64 { 0 }
    func read(inode: UInt64, handle: UInt64, offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        entered.withLock { $0 = true }
        let deadline = Date().addingTimeInterval(60)  // bounded, so even a broken test ends
        while !released.withLock({ $0 }), Date() < deadline { usleep(1_000) }
        throw FUSEError.io
    }
    func release(inode: UInt64, handle: UInt64) {}
    func openDirectory(inode: UInt64) throws {}
    func readDirectory(inode: UInt64, offset: UInt64, add: (DirectoryEntry) -> Bool) throws {}
    func extendedAttribute(inode: UInt64, name: UnsafeRawBufferPointer) throws -> [UInt8] { throw FUSEError.noAttribute }
    func extendedAttributeNames(inode: UInt64) throws -> [[UInt8]] { [] }
    func statistics() throws -> FileSystemStatistics { FileSystemStatistics(blockSize: 4096, blocks: 0, files: 2) }
}

@Suite struct MountLifecycleTests {
    @Test func abortFreesAReaderStuckOnAHungServerAndUnmountCompletes() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            try FileSystem.makeDirectories(dir + "/mnt")
            let fs = StuckFileSystem()
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
            let fs = StuckFileSystem()
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
