import CFuse

/// The attributes of one inode, as `stat` reports them.
public struct FileAttributes: Sendable, Hashable {
    public var inode: UInt64
    /// `st_mode`: the file type bits (`S_IFREG`, `S_IFDIR`, …) and the permission bits.
    public var mode: UInt32
    public var linkCount: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: UInt64
    /// `st_rdev` of character and block devices, else 0.
    public var device: UInt64
    public var modificationSeconds: Int64
    public var modificationNanoseconds: UInt32
    /// The preferred I/O size reported as `st_blksize`.
    public var blockSize: UInt32

    public init(inode: UInt64, mode: UInt32, linkCount: UInt32, uid: UInt32, gid: UInt32, size: UInt64,
                device: UInt64 = 0, modificationSeconds: Int64, modificationNanoseconds: UInt32, blockSize: UInt32 = 4096) {
        self.inode = inode
        self.mode = mode
        self.linkCount = linkCount
        self.uid = uid
        self.gid = gid
        self.size = size
        self.device = device
        self.modificationSeconds = modificationSeconds
        self.modificationNanoseconds = modificationNanoseconds
        self.blockSize = blockSize
    }
}

/// One directory entry for `readdir`: a name (any bytes but `/` and NUL), its attributes, and
/// the offset at which the next call continues after this entry.
public struct DirectoryEntry: Sendable {
    public var name: [UInt8]
    public var attributes: FileAttributes
    public var nextOffset: UInt64

    public init(name: [UInt8], attributes: FileAttributes, nextOffset: UInt64) {
        self.name = name
        self.attributes = attributes
        self.nextOffset = nextOffset
    }
}

/// What `statfs` reports.
public struct FileSystemStatistics: Sendable, Hashable {
    public var blockSize: UInt32
    public var blocks: UInt64
    public var freeBlocks: UInt64
    public var files: UInt64
    public var freeFiles: UInt64
    public var maximumNameLength: UInt32

    public init(blockSize: UInt32, blocks: UInt64, freeBlocks: UInt64 = 0, files: UInt64, freeFiles: UInt64 = 0,
                maximumNameLength: UInt32 = 255) {
        self.blockSize = blockSize
        self.blocks = blocks
        self.freeBlocks = freeBlocks
        self.files = files
        self.freeFiles = freeFiles
        self.maximumNameLength = maximumNameLength
    }
}

/// A read-only file system served through FUSE, addressed by inode numbers (inode 1 is the root).
///
/// Every method is called synchronously on one of libfuse's worker threads, several at once:
/// implementations keep shared mutable state behind a `Mutex`. A method must never touch the
/// mount it serves (no paths under it, no logging into it), or it deadlocks. Throw `FUSEError`
/// to choose the errno; anything else becomes `EIO`.
public protocol FileSystemOperations: AnyObject, Sendable {
    /// The entry `name` (raw bytes, no NUL) in the directory `parent`.
    func lookup(parent: UInt64, name: UnsafeRawBufferPointer) throws -> FileAttributes
    func attributes(inode: UInt64) throws -> FileAttributes
    /// The target of a symbolic link, as bytes.
    func readLink(inode: UInt64) throws -> [UInt8]
    /// Opens a regular file for reading; returns a handle passed back to `read` and `release`.
    func open(inode: UInt64, flags: Int32) throws -> UInt64
    /// Reads up to `buffer.count` bytes at `offset`; returns how many (fewer only at the end).
    func read(inode: UInt64, handle: UInt64, offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    /// Reads up to `size` bytes at `offset` and calls `reply` once with them as pieces of memory
    /// in order (valid only during the call), which the reply sends without gathering them into
    /// one buffer. The default reads into one buffer with `read(inode:handle:offset:into:)`.
    func read(inode: UInt64, handle: UInt64, offset: UInt64, size: Int, reply: ([UnsafeRawBufferPointer]) -> Void) throws
    func release(inode: UInt64, handle: UInt64)
    /// Checks that `inode` is a directory that may be listed.
    func openDirectory(inode: UInt64) throws
    /// Calls `add` for the entries from `offset` on (`.` and `..` included) until it returns false.
    func readDirectory(inode: UInt64, offset: UInt64, add: (DirectoryEntry) -> Bool) throws
    /// The value of the extended attribute `name`; `FUSEError.noAttribute` when there is none.
    func extendedAttribute(inode: UInt64, name: UnsafeRawBufferPointer) throws -> [UInt8]
    func extendedAttributeNames(inode: UInt64) throws -> [[UInt8]]
    func statistics() throws -> FileSystemStatistics
}

extension FileSystemOperations {
    public func read(inode: UInt64, handle: UInt64, offset: UInt64, size: Int, reply: ([UnsafeRawBufferPointer]) -> Void) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 16)
        defer { buffer.deallocate() }
        let count = try read(inode: inode, handle: handle, offset: offset, into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<size]))
        reply([UnsafeRawBufferPointer(rebasing: buffer[..<count])])
    }
}

extension FileAttributes {
    /// The `st_rdev` value of a device node (glibc's `makedev`).
    public static func deviceNumber(major: UInt32, minor: UInt32) -> UInt64 {
        UInt64(arca_fuse_makedev(major, minor))
    }
}
