import ArcaCore
import ArcaFUSE
import ArcaTestSupport
import Foundation
import Synchronization
import Testing

/// A one-file file system that counts the lookups it answers, by name.
final class CountingFileSystem: FileSystemOperations {
    let lookups = Mutex<[String: Int]>([:])

    private func attributes(_ inode: UInt64) -> FileAttributes {
        FileAttributes(inode: inode, mode: inode == 1 ? S_IFDIR | 0o755 : S_IFREG | 0o644, linkCount: inode == 1 ? 2 : 1,
                       uid: 0, gid: 0, size: 0, modificationSeconds: 0, modificationNanoseconds: 0)
    }

    func lookup(parent: UInt64, name: UnsafeRawBufferPointer) throws -> FileAttributes {
        lookups.withLock { $0[String(decoding: name, as: UTF8.self), default: 0] += 1 }
        guard parent == 1, name.elementsEqual("file".utf8) else { throw FUSEError.noEntry }
        return attributes(2)
    }
    func attributes(inode: UInt64) throws -> FileAttributes {
        guard inode == 1 || inode == 2 else { throw FUSEError.noEntry }
        return attributes(inode)
    }
    func readLink(inode: UInt64) throws -> [UInt8] { throw FUSEError.invalid }
    func open(inode: UInt64, flags: Int32) throws -> UInt64 { 0 }
    func read(inode: UInt64, handle: UInt64, offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int { 0 }
    func release(inode: UInt64, handle: UInt64) {}
    func openDirectory(inode: UInt64) throws {}
    func readDirectory(inode: UInt64, offset: UInt64, add: (DirectoryEntry) -> Bool) throws {}
    func extendedAttribute(inode: UInt64, name: UnsafeRawBufferPointer) throws -> [UInt8] { throw FUSEError.noAttribute }
    func extendedAttributeNames(inode: UInt64) throws -> [[UInt8]] { [] }
    func statistics() throws -> FileSystemStatistics { FileSystemStatistics(blockSize: 4096, blocks: 0, files: 2) }
}

/// A name that does not exist is asked for once while `negativeTimeout` lasts (python probes the
/// same missing names at every start); with 0 the kernel asks every time.
@Suite struct NegativeLookupTests {
    func missingNameLookups(negativeTimeout: Double) async throws -> (missing: Int, present: Int) {
        try await Fixture.withTemporaryDirectory { dir in
            try FileSystem.makeDirectories(dir + "/mnt")
            let fs = CountingFileSystem()
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
