import ArcaFUSE
import Foundation
import Synchronization

/// A one-file file system (`/file`, 10 bytes) for tests of the FUSE layer: it counts the lookups
/// it answers, by name, and its reads block until `released`: a server that hangs.
final class OneFileSystem: FileSystemOperations {
    let released = Mutex(false)
    let entered = Mutex(false)
    let lookups = Mutex<[String: Int]>([:])

    private func attributes(_ inode: UInt64) -> FileAttributes {
        FileAttributes(inode: inode, mode: inode == 1 ? S_IFDIR | 0o755 : S_IFREG | 0o644, linkCount: inode == 1 ? 2 : 1,
                       uid: 0, gid: 0, size: inode == 1 ? 0 : 10, modificationSeconds: 0, modificationNanoseconds: 0)
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
