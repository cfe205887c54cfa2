#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Who sent a request: the caller's ids (new files belong to them) and process.
public struct RequestContext: Sendable, Hashable {
    public var uid: UInt32
    public var gid: UInt32
    public var pid: Int32
    public init(uid: UInt32, gid: UInt32, pid: Int32) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
    }
}

/// A `setattr` request: each non-nil field changes (chmod, chown, truncate, utimens).
public struct AttributeChanges: Sendable, Hashable {
    public var mode: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?
    public var size: UInt64?
    /// The new modification time (already resolved to "now" for `UTIME_NOW`).
    public var modificationSeconds: Int64?
    public var modificationNanoseconds: UInt32 = 0

    public init(mode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil, size: UInt64? = nil,
                modificationSeconds: Int64? = nil, modificationNanoseconds: UInt32 = 0) {
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.modificationSeconds = modificationSeconds
        self.modificationNanoseconds = modificationNanoseconds
    }
}

/// A read-write file system: `FileSystemOperations` plus the operations that change the tree.
/// Mounted with `MountOptions.writable`. Every requirement has a default that refuses (`EROFS`
/// for changes, `EPERM` for hard links, `ENOSYS` for flush and sync, which the kernel then
/// stops sending), so a conformance implements only what it supports. Same threading rules as
/// `FileSystemOperations`.
public protocol WritableFileSystemOperations: FileSystemOperations {
    /// Creates and opens a regular file; returns its attributes and the handle.
    func create(parent: UInt64, name: UnsafeRawBufferPointer, mode: UInt32, flags: Int32,
                context: RequestContext) throws -> (attributes: FileAttributes, handle: UInt64)
    /// mknod(2); only regular files are expected (`mode` holds the type bits).
    func makeNode(parent: UInt64, name: UnsafeRawBufferPointer, mode: UInt32, device: UInt64,
                  context: RequestContext) throws -> FileAttributes
    func makeDirectory(parent: UInt64, name: UnsafeRawBufferPointer, mode: UInt32, context: RequestContext) throws -> FileAttributes
    func makeSymbolicLink(parent: UInt64, name: UnsafeRawBufferPointer, target: UnsafeRawBufferPointer,
                          context: RequestContext) throws -> FileAttributes
    /// link(2): a hard link to `inode` as `newName` in `newParent`.
    func link(inode: UInt64, newParent: UInt64, newName: UnsafeRawBufferPointer) throws -> FileAttributes
    /// Writes `bytes` at `offset`; returns how many were written.
    func write(inode: UInt64, handle: UInt64, offset: UInt64, bytes: UnsafeRawBufferPointer) throws -> Int
    /// `handle` is set when the change comes through an open file (ftruncate, fchmod).
    func setAttributes(inode: UInt64, changes: AttributeChanges, handle: UInt64?) throws -> FileAttributes
    func unlink(parent: UInt64, name: UnsafeRawBufferPointer) throws
    func removeDirectory(parent: UInt64, name: UnsafeRawBufferPointer) throws
    /// rename(2)/renameat2(2); `flags` holds `RENAME_NOREPLACE` / `RENAME_EXCHANGE`.
    func rename(parent: UInt64, name: UnsafeRawBufferPointer, newParent: UInt64, newName: UnsafeRawBufferPointer,
                flags: UInt32) throws
    /// close(2) of one file descriptor of an open file (there may be several per handle).
    func flush(inode: UInt64, handle: UInt64) throws
    /// fsync(2) / fdatasync(2) of an open file.
    func synchronize(inode: UInt64, handle: UInt64, dataOnly: Bool) throws
    /// fsync(2) of an open directory.
    func synchronizeDirectory(inode: UInt64, dataOnly: Bool) throws
}

extension WritableFileSystemOperations {
    public func create(parent: UInt64, name: UnsafeRawBufferPointer, mode: UInt32, flags: Int32,
                       context: RequestContext) throws -> (attributes: FileAttributes, handle: UInt64) {
        throw FUSEError.readOnly
    }
    public func makeNode(parent: UInt64, name: UnsafeRawBufferPointer, mode: UInt32, device: UInt64,
                         context: RequestContext) throws -> FileAttributes { throw FUSEError.readOnly }
    public func makeDirectory(parent: UInt64, name: UnsafeRawBufferPointer, mode: UInt32, context: RequestContext) throws -> FileAttributes {
        throw FUSEError.readOnly
    }
    public func makeSymbolicLink(parent: UInt64, name: UnsafeRawBufferPointer, target: UnsafeRawBufferPointer,
                                 context: RequestContext) throws -> FileAttributes { throw FUSEError.readOnly }
    public func link(inode: UInt64, newParent: UInt64, newName: UnsafeRawBufferPointer) throws -> FileAttributes {
        throw FUSEError(EPERM)
    }
    public func write(inode: UInt64, handle: UInt64, offset: UInt64, bytes: UnsafeRawBufferPointer) throws -> Int {
        throw FUSEError.readOnly
    }
    public func setAttributes(inode: UInt64, changes: AttributeChanges, handle: UInt64?) throws -> FileAttributes {
        throw FUSEError.readOnly
    }
    public func unlink(parent: UInt64, name: UnsafeRawBufferPointer) throws { throw FUSEError.readOnly }
    public func removeDirectory(parent: UInt64, name: UnsafeRawBufferPointer) throws { throw FUSEError.readOnly }
    public func rename(parent: UInt64, name: UnsafeRawBufferPointer, newParent: UInt64, newName: UnsafeRawBufferPointer,
                       flags: UInt32) throws { throw FUSEError.readOnly }
    public func flush(inode: UInt64, handle: UInt64) throws { throw FUSEError.notSupported }
    public func synchronize(inode: UInt64, handle: UInt64, dataOnly: Bool) throws { throw FUSEError.notSupported }
    public func synchronizeDirectory(inode: UInt64, dataOnly: Bool) throws { throw FUSEError.notSupported }
}
