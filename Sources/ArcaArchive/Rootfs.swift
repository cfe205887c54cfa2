/// Where a file's bytes are: a byte range of one layer's uncompressed tar stream, or nowhere
/// (directories, links, devices, empty files).
public enum ContentLocation: Equatable, Hashable, Sendable {
    case none
    case layer(index: Int, offset: Int64, size: Int64)
}

/// One path of the merged root filesystem. Hardlinks are resolved: a node is never of type
/// `.hardlink`; linked nodes share `content` and a `hardlinkGroup`.
public struct RootfsNode: Equatable, Sendable {
    public var type: TarEntry.EntryType
    public var mode: UInt32
    public var uid: Int
    public var gid: Int
    public var userName: String
    public var groupName: String
    public var modificationTime: TarTime
    public var size: Int64
    public var xattrs: [String: [UInt8]]
    /// A symlink's target, as stored; empty for other types.
    public var linkTarget: String
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    /// Nodes with the same group number are hard links of one file (numbered in walk order).
    public var hardlinkGroup: Int?
    public var content: ContentLocation

    /// The metadata of `entry` (not a hardlink) with its content at `content`.
    public init(entry: TarEntry, content: ContentLocation) {
        type = entry.type
        mode = entry.mode
        uid = entry.uid
        gid = entry.gid
        userName = entry.userName
        groupName = entry.groupName
        modificationTime = entry.modificationTime
        size = entry.size
        xattrs = entry.xattrs
        linkTarget = entry.type == .symlink ? entry.linkTarget : ""
        deviceMajor = entry.deviceMajor
        deviceMinor = entry.deviceMinor
        hardlinkGroup = nil
        self.content = content
    }

    /// A directory Arca made because an entry needed it: root-owned, 0755, time 0.
    static let implicitDirectory = RootfsNode(entry: TarEntry(path: ArchivePath.root, type: .directory, mode: 0o755),
                                              content: .none)
}

/// One path and its node, as the walk yields them.
public struct RootfsItem: Equatable, Sendable {
    /// Normalized path; `"."` is the root.
    public var path: String
    public var node: RootfsNode
}

/// The merged root filesystem of an image: every path after all layers, whiteouts and
/// replacements, in walk order (the root first, then depth-first with each directory's
/// children sorted by the bytes of their names, so a parent always precedes its children).
public struct Rootfs: Sendable {
    public let items: [RootfsItem]
    private let index: [[UInt8]: Int]

    init(items: [RootfsItem]) {
        self.items = items
        var index: [[UInt8]: Int] = [:]
        for (position, item) in items.enumerated() { index[Array(item.path.utf8)] = position }
        self.index = index
    }

    /// The node at a normalized path, or nil.
    public subscript(path: String) -> RootfsNode? {
        index[Array(path.utf8)].map { items[$0].node }
    }

    public var count: Int { items.count }
}
