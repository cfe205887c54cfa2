import ArcaCore
import ArcaCrypto
import ArcaFUSE
import ArcaShield

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The protected root: the flattened, read-only file tree of a shield, served through FUSE.
///
/// Metadata (names, types, modes, owners, times, sizes, link targets, xattrs) comes only from
/// the authenticated index, never from the disk. Content of `authenticated` files is read from
/// the lower tree through its directory descriptor and checked chunk by chunk against the
/// index; content of `encrypted` files is decrypted from the blob. Nothing unverified is
/// returned: a bad chunk is `EIO` plus one line on standard error naming the file and chunk.
///
/// Immutable after `init` except for the chunk cache and the failure log (both `Mutex`-guarded),
/// so every libfuse worker thread can call it at once.
public final class ProtectedRoot: FileSystemOperations {
    public let index: ShieldIndex
    private let tree: RootTree
    private let lower: LowerTree
    private let content: ContentReader
    private let totalBlocks: UInt64

    /// - Parameters:
    ///   - index: the parsed index (`ShieldIndex.parse` against the measured root); without its
    ///     key (locked) only the `authenticated` entries are served.
    ///   - masterKey: the image master key; needed when the index has encrypted content.
    ///   - lower: the runtime-unpacked image, opened before mounting.
    ///   - blobs: the shield's blobs, one per stream of the index in table order (each checked
    ///     against the index); empty when the index has no streams.
    ///   - cacheChunks: how many verified chunks to keep for partial reads (64 KiB each by default).
    ///   - log: where refusal lines go; standard error by default.
    ///   - mountpoints: absolute, normalized paths of files the runtime bind-mounts over after
    ///     mounting (secret files); those the index lacks appear as empty read-only files.
    public init(index: ShieldIndex, masterKey: MasterKey?, lower: LowerTree, blobs: [any RandomAccessBytes],
                cacheChunks: Int = 64, log: (@Sendable (String) -> Void)? = nil, mountpoints: [String] = []) throws {
        self.index = index
        self.lower = lower
        tree = try RootTree(entries: index.entries, mountpoints: mountpoints)
        let shield: ShieldReader? = !index.streams.isEmpty && !index.isLocked
            ? try ShieldReader(index: index, masterKey: masterKey, blobs: blobs) : nil
        content = ContentReader(layout: index.layout, shield: shield,
                                cache: ChunkCache(capacity: cacheChunks),
                                log: IntegrityLog(sink: log ?? IntegrityLog.standardError))
        totalBlocks = tree.nodes.reduce(0) { $0 + ($1.entry.type == .regular ? ($1.entry.size + 4095) / 4096 : 0) }
    }

    /// A shield with at most one stream: `blob` is its blob (nil when it has none).
    public convenience init(index: ShieldIndex, masterKey: MasterKey?, lower: LowerTree, blob: (any RandomAccessBytes)?,
                            cacheChunks: Int = 64, log: (@Sendable (String) -> Void)? = nil) throws {
        try self.init(index: index, masterKey: masterKey, lower: lower, blobs: blob.map { [$0] } ?? [],
                      cacheChunks: cacheChunks, log: log)
    }

    /// Mounts this tree at `mountpoint` and serves it in the background.
    public func mount(at mountpoint: String, options: MountOptions = MountOptions()) throws -> FUSEMount {
        try FUSEMount.mount(self, at: mountpoint, options: options)
    }

    /// Number of inodes (entries, plus directories the index implies).
    public var inodeCount: Int { tree.nodes.count }

    // MARK: FileSystemOperations

    public func lookup(parent: UInt64, name: UnsafeRawBufferPointer) throws -> FileAttributes {
        let directory = try node(parent)
        guard tree.nodes[directory].entry.type == .directory else { throw FUSEError.notDirectory }
        guard let child = tree.child(of: directory, named: name) else { throw FUSEError.noEntry }
        return attributes(child)
    }

    public func attributes(inode: UInt64) throws -> FileAttributes {
        attributes(try node(inode))
    }

    public func readLink(inode: UInt64) throws -> [UInt8] {
        let entry = tree.nodes[try node(inode)].entry
        guard entry.type == .symlink else { throw FUSEError.invalid }
        return Array(entry.linkTarget.utf8)
    }

    public func open(inode: UInt64, flags: Int32) throws -> UInt64 {
        let entry = tree.nodes[try node(inode)].entry
        guard entry.type != .directory else { throw FUSEError.isDirectory }
        guard entry.type == .regular else { throw FUSEError.invalid }
        guard flags & O_ACCMODE == O_RDONLY, flags & O_TRUNC == 0 else { throw FUSEError.readOnly }
        guard entry.protection == .authenticated, entry.size > 0 else { return 0 }  // nothing on disk to open
        do {
            return UInt64(try lower.openFile(entry.path)) + 1
        } catch let error as ArcaError {
            content.log.refuse(path: entry.path, chunk: nil, reason: error.message)
            throw FUSEError.io
        }
    }

    public func read(inode: UInt64, handle: UInt64, offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let node = try node(inode)
        let entry = tree.nodes[node].entry
        guard entry.type == .regular else { throw FUSEError.invalid }
        guard offset < entry.size else { return 0 }
        if entry.protection == .encrypted {
            return try content.readEncrypted(entry, offset: offset, into: buffer)
        }
        guard handle > 0, handle <= UInt64(Int32.max) + 1 else { throw FUSEError(EBADF) }
        return try content.readAuthenticated(entry, node: node, fd: Int32(handle - 1), offset: offset, into: buffer)
    }

    public func release(inode: UInt64, handle: UInt64) {
        if handle > 0, handle <= UInt64(Int32.max) + 1 { close(Int32(handle - 1)) }
    }

    public func openDirectory(inode: UInt64) throws {
        guard tree.nodes[try node(inode)].entry.type == .directory else { throw FUSEError.notDirectory }
    }

    public func readDirectory(inode: UInt64, offset: UInt64, add: (DirectoryEntry) -> Bool) throws {
        let directory = try node(inode)
        let record = tree.nodes[directory]
        guard record.entry.type == .directory else { throw FUSEError.notDirectory }
        // Offsets: 0 is ".", 1 is "..", 2 + k is child k; each entry names the next offset.
        var position = offset
        while position < UInt64(record.children.count) + 2 {
            let (name, target): ([UInt8], Int) = switch position {
            case 0: ([UInt8(ascii: ".")], directory)
            case 1: ([UInt8(ascii: "."), UInt8(ascii: ".")], record.parent)
            default: (record.children[Int(position - 2)].name, record.children[Int(position - 2)].node)
            }
            guard add(DirectoryEntry(name: name, attributes: attributes(target), nextOffset: position + 1)) else { return }
            position += 1
        }
    }

    public func extendedAttribute(inode: UInt64, name: UnsafeRawBufferPointer) throws -> [UInt8] {
        let entry = tree.nodes[try node(inode)].entry
        guard let attribute = entry.xattrs.first(where: { $0.name.utf8.elementsEqual(name) }) else {
            throw FUSEError.noAttribute
        }
        return attribute.value
    }

    public func extendedAttributeNames(inode: UInt64) throws -> [[UInt8]] {
        tree.nodes[try node(inode)].entry.xattrs.map { Array($0.name.utf8) }
    }

    public func statistics() throws -> FileSystemStatistics {
        FileSystemStatistics(blockSize: 4096, blocks: totalBlocks, files: UInt64(tree.nodes.count))
    }

    // MARK: helpers

    private func node(_ inode: UInt64) throws -> Int {
        guard let node = tree.node(inode) else { throw FUSEError.noEntry }
        return node
    }

    private func attributes(_ node: Int) -> FileAttributes {
        let record = tree.nodes[node]
        let entry = record.entry
        let type: UInt32 = switch entry.type {
        case .regular, .hardlink: S_IFREG  // hardlinks resolve to their target's node
        case .directory: S_IFDIR
        case .symlink: S_IFLNK
        case .characterDevice: S_IFCHR
        case .blockDevice: S_IFBLK
        case .fifo: S_IFIFO
        }
        let size: UInt64 = switch entry.type {
        case .regular: entry.size
        case .symlink: UInt64(entry.linkTarget.utf8.count)  // what lstat reports for a link
        default: 0
        }
        let isDevice = entry.type == .characterDevice || entry.type == .blockDevice
        return FileAttributes(
            inode: UInt64(node) + 1, mode: type | entry.mode, linkCount: record.linkCount, uid: entry.uid, gid: entry.gid,
            size: size, device: isDevice ? FileAttributes.deviceNumber(major: entry.deviceMajor, minor: entry.deviceMinor) : 0,
            modificationSeconds: entry.mtime.seconds, modificationNanoseconds: entry.mtime.nanoseconds,
            blockSize: entry.type == .regular ? UInt32(index.layout.chunkSize) : 4096)
    }
}
