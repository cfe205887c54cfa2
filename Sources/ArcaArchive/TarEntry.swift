/// A point in time as tar stores it: whole seconds since 1970 plus nanoseconds (0..<1e9).
public struct TarTime: Equatable, Hashable, Sendable, Comparable {
    public var seconds: Int64
    public var nanoseconds: Int32

    public init(seconds: Int64, nanoseconds: Int32 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    public static let zero = TarTime(seconds: 0)

    public static func < (lhs: TarTime, rhs: TarTime) -> Bool {
        (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
    }
}

/// One member of a tar archive, with its name normalized (see `ArchivePath`).
public struct TarEntry: Equatable, Sendable {
    /// The kinds of members Arca reads and writes. Contiguous files (`7`) read as `regular`.
    public enum EntryType: String, Equatable, Hashable, Sendable {
        case regular, hardlink, symlink, characterDevice, blockDevice, directory, fifo

        /// Whether the member carries data in the archive.
        public var hasData: Bool { self == .regular }
        public var isDevice: Bool { self == .characterDevice || self == .blockDevice }
    }

    /// Normalized, relative path; `"."` is the root.
    public var path: String
    public var type: EntryType
    /// Permission bits plus setuid, setgid and sticky (masked to 0o7777).
    public var mode: UInt32
    public var uid: Int
    public var gid: Int
    public var userName: String
    public var groupName: String
    public var modificationTime: TarTime
    /// Data size; 0 for everything but regular files.
    public var size: Int64
    /// Target of a symlink (as stored) or of a hardlink (a normalized path); empty otherwise.
    public var linkTarget: String
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    /// Extended attributes by full name (`user.x`, `security.capability`); written in sorted order.
    public var xattrs: [String: [UInt8]]

    public init(path: String, type: EntryType, mode: UInt32 = 0o644, uid: Int = 0, gid: Int = 0,
                userName: String = "", groupName: String = "", modificationTime: TarTime = .zero,
                size: Int64 = 0, linkTarget: String = "", deviceMajor: UInt32 = 0, deviceMinor: UInt32 = 0,
                xattrs: [String: [UInt8]] = [:]) {
        self.path = path
        self.type = type
        self.mode = mode & 0o7777
        self.uid = uid
        self.gid = gid
        self.userName = userName
        self.groupName = groupName
        self.modificationTime = modificationTime
        self.size = size
        self.linkTarget = linkTarget
        self.deviceMajor = deviceMajor
        self.deviceMinor = deviceMinor
        self.xattrs = xattrs
    }

    /// A regular file of `size` bytes.
    public static func file(_ path: String, size: Int64, mode: UInt32 = 0o644) -> TarEntry {
        TarEntry(path: path, type: .regular, mode: mode, size: size)
    }

    /// A directory.
    public static func directory(_ path: String, mode: UInt32 = 0o755) -> TarEntry {
        TarEntry(path: path, type: .directory, mode: mode)
    }

    /// A symbolic link to `target`.
    public static func symlink(_ path: String, to target: String) -> TarEntry {
        TarEntry(path: path, type: .symlink, mode: 0o777, linkTarget: target)
    }

    /// A hard link to the earlier member `target`.
    public static func hardlink(_ path: String, to target: String) -> TarEntry {
        TarEntry(path: path, type: .hardlink, linkTarget: target)
    }
}
