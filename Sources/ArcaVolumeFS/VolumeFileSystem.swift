import ArcaCore
import ArcaFUSE
import ArcaVolume

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A `Volume` served through FUSE, read-write. Hard links fail with `EPERM` (the volume is a
/// tree: one name per file). fsync, fdatasync and fsync of a directory commit the whole volume
/// as it has it (a new anchored version); with the kernel's writeback cache, a file's data reaches
/// the volume when the kernel writes it back — at that file's close or fsync at the latest — so
/// everything closed or fsynced before a successful fsync survives a crash; close (flush) does
/// not commit. Integrity failures answer `EIO` and are reported to `log`.
public final class VolumeFileSystem: WritableFileSystemOperations {
    public let volume: Volume
    private let log: @Sendable (String) -> Void

    /// `log` receives one line per integrity or I/O failure (it must not write into the mount).
    public init(volume: Volume, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.volume = volume
        self.log = log
    }

    /// The mount options of a volume: read-write, with the kernel caching names, attributes and
    /// file pages for long and coalescing writes in its writeback cache. Sound because the volume
    /// changes only through this mount (the lease keeps every other writer out), so the kernel's
    /// copy never goes stale; fsync still reaches `synchronize` after the kernel wrote back the
    /// file's dirty pages. Directory listings are not kept (they change).
    public static var mountOptions: MountOptions {
        var options = MountOptions()
        options.name = "arca-volume"
        options.subtype = "arca-volume"
        options.writable = true
        options.allowSetuid = false
        options.keepCache = true
        options.cacheDirectories = false
        options.writebackCache = true
        options.maximumWrite = 1 << 20
        // A 4 MiB readahead window: a sequential reader's requests become 1 MiB (`max_pages`
        // follows `max_write`) and several are in flight, served on both cores; the kernel's
        // 128 KiB default kept one 256 KiB request in flight at a time.
        options.readAhead = 4 << 20
        options.entryTimeout = 86_400
        options.attributeTimeout = 86_400
        options.negativeTimeout = 0  // names come and go; the kernel asks
        return options
    }

    /// Runs `body`, turning volume errors into FUSE errnos.
    private func run<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let failure as POSIXFailure {
            throw FUSEError(failure.code)
        } catch let error as FUSEError {
            throw error
        } catch let error as ArcaError where error.code == .noSpace {
            log("volume \(what): \(error.message)")
            throw FUSEError(ENOSPC)
        } catch {
            log("volume \(what) failed: \(error)")
            throw FUSEError.io
        }
    }

    private func attributes(_ a: VolumeAttributes) -> FileAttributes {
        FileAttributes(inode: a.inode, mode: a.mode, linkCount: a.linkCount, uid: a.uid, gid: a.gid, size: a.size,
                       modificationSeconds: a.modificationSeconds, modificationNanoseconds: a.modificationNanoseconds)
    }

    // MARK: reading

    public func lookup(parent: UInt64, name: UnsafeRawBufferPointer) throws -> FileAttributes {
        try run("lookup") { attributes(try volume.lookup(parent: parent, name: Array(name))) }
    }

    public func attributes(inode: UInt64) throws -> FileAttributes {
        try run("getattr") { attributes(try volume.attributes(inode: inode)) }
    }

    public func readLink(inode: UInt64) throws -> [UInt8] {
        try run("readlink") { try volume.readLink(inode: inode) }
    }

    public func open(inode: UInt64, flags: Int32) throws -> UInt64 {
        try run("open") {
            _ = try volume.open(inode: inode)
            // libfuse negotiates atomic O_TRUNC by default: the kernel then sends no separate
            // truncate, and open must do it.
            if flags & O_TRUNC != 0, flags & O_ACCMODE != O_RDONLY {
                do {
                    _ = try volume.setAttributes(inode: inode, AttributeUpdate(size: 0))
                } catch {
                    volume.release(inode: inode)
                    throw error
                }
            }
        }
        return inode
    }

    public func read(inode: UInt64, handle: UInt64, offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try run("read") { try volume.read(inode: inode, offset: offset, into: buffer) }
    }

    /// Replies straight from the opened chunks (no copy into one reply buffer).
    public func read(inode: UInt64, handle: UInt64, offset: UInt64, size: Int, reply: ([UnsafeRawBufferPointer]) -> Void) throws {
        try run("read") { try volume.read(inode: inode, offset: offset, count: size, reply) }
    }

    public func release(inode: UInt64, handle: UInt64) {
        volume.release(inode: inode)
    }

    public func openDirectory(inode: UInt64) throws {
        try run("opendir") {
            guard try volume.attributes(inode: inode).kind == .directory else { throw FUSEError.notDirectory }
        }
    }

    public func readDirectory(inode: UInt64, offset: UInt64, add: (DirectoryEntry) -> Bool) throws {
        try run("readdir") {
            let this = attributes(try volume.attributes(inode: inode))
            let parent = attributes(try volume.attributes(inode: try volume.parent(of: inode)))
            let entries = [(Array(".".utf8), this), (Array("..".utf8), parent)]
                + (try volume.list(inode: inode)).map { ($0.name, attributes($0.attributes)) }
            // Offsets are positions in this sorted listing; a listing that changes between calls may
            // skip or repeat a name, which POSIX allows.
            var index = Int(clamping: offset)
            while index < entries.count {
                guard add(DirectoryEntry(name: entries[index].0, attributes: entries[index].1, nextOffset: UInt64(index + 1))) else { return }
                index += 1
            }
        }
    }

    /// Volumes keep no extended attributes. `ENOSYS` (not `ENODATA`) makes the kernel stop asking
    /// for the whole mount: otherwise every write(2) costs a `security.capability` lookup round
    /// trip (the kernel's check for privileges to drop), which halved random 4 KiB write speed.
    /// Callers then get `EOPNOTSUPP`, as on any file system without extended attributes.
    public func extendedAttribute(inode: UInt64, name: UnsafeRawBufferPointer) throws -> [UInt8] {
        throw FUSEError.notSupported
    }

    public func extendedAttributeNames(inode: UInt64) throws -> [[UInt8]] {
        throw FUSEError.notSupported
    }

    public func statistics() throws -> FileSystemStatistics {
        try run("statfs") {
            let stats = try volume.statistics()
            return FileSystemStatistics(blockSize: UInt32(clamping: stats.blockSize), blocks: stats.blocks, freeBlocks: stats.freeBlocks,
                                        files: stats.files, freeFiles: 1 << 32)
        }
    }

    // MARK: changing

    public func create(parent: UInt64, name: UnsafeRawBufferPointer, mode: UInt32, flags: Int32,
                       context: RequestContext) throws -> (attributes: FileAttributes, handle: UInt64) {
        try run("create") {
            let created = try volume.create(parent: parent, name: Array(name), permissions: mode & 0o7777, uid: context.uid, gid: context.gid)
            _ = try volume.open(inode: created.inode)
            return (attributes(created), created.inode)
        }
    }

    public func makeNode(parent: UInt64, name: UnsafeRawBufferPointer, mode: UInt32, device: UInt64,
                         context: RequestContext) throws -> FileAttributes {
        guard mode & S_IFMT == S_IFREG else { throw FUSEError(EPERM) }  // no devices, fifos or sockets
        return try run("mknod") {
            attributes(try volume.create(parent: parent, name: Array(name), permissions: mode & 0o7777, uid: context.uid, gid: context.gid))
        }
    }

    public func makeDirectory(parent: UInt64, name: UnsafeRawBufferPointer, mode: UInt32, context: RequestContext) throws -> FileAttributes {
        try run("mkdir") {
            attributes(try volume.makeDirectory(parent: parent, name: Array(name), permissions: mode & 0o7777, uid: context.uid, gid: context.gid))
        }
    }

    public func makeSymbolicLink(parent: UInt64, name: UnsafeRawBufferPointer, target: UnsafeRawBufferPointer,
                                 context: RequestContext) throws -> FileAttributes {
        try run("symlink") {
            attributes(try volume.makeSymlink(parent: parent, name: Array(name), target: Array(target), uid: context.uid, gid: context.gid))
        }
    }

    public func link(inode: UInt64, newParent: UInt64, newName: UnsafeRawBufferPointer) throws -> FileAttributes {
        throw FUSEError(EPERM)
    }

    public func write(inode: UInt64, handle: UInt64, offset: UInt64, bytes: UnsafeRawBufferPointer) throws -> Int {
        try run("write") { try volume.write(inode: inode, offset: offset, bytes: bytes) }
    }

    public func setAttributes(inode: UInt64, changes: AttributeChanges, handle: UInt64?) throws -> FileAttributes {
        try run("setattr") {
            let time = changes.modificationSeconds.map { (seconds: $0, nanoseconds: changes.modificationNanoseconds) }
            let update = AttributeUpdate(permissions: changes.mode.map { $0 & 0o7777 }, uid: changes.uid, gid: changes.gid,
                                         size: changes.size, modificationTime: time)
            return attributes(try volume.setAttributes(inode: inode, update))
        }
    }

    public func unlink(parent: UInt64, name: UnsafeRawBufferPointer) throws {
        try run("unlink") { try volume.unlink(parent: parent, name: Array(name)) }
    }

    public func removeDirectory(parent: UInt64, name: UnsafeRawBufferPointer) throws {
        try run("rmdir") { try volume.removeDirectory(parent: parent, name: Array(name)) }
    }

    public func rename(parent: UInt64, name: UnsafeRawBufferPointer, newParent: UInt64, newName: UnsafeRawBufferPointer,
                       flags: UInt32) throws {
        let noReplace: UInt32 = 1  // RENAME_NOREPLACE
        guard flags & ~noReplace == 0 else { throw FUSEError.invalid }  // RENAME_EXCHANGE, RENAME_WHITEOUT
        try run("rename") {
            try volume.rename(parent: parent, name: Array(name), newParent: newParent, newName: Array(newName), noReplace: flags & noReplace != 0)
        }
    }

    public func flush(inode: UInt64, handle: UInt64) throws {}

    public func synchronize(inode: UInt64, handle: UInt64, dataOnly: Bool) throws {
        try run("fsync") { try volume.commit() }
    }

    public func synchronizeDirectory(inode: UInt64, dataOnly: Bool) throws {
        try run("fsyncdir") { try volume.commit() }
    }
}
