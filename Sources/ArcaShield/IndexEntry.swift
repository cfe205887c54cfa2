import ArcaCrypto

/// The kind of a tree entry.
public enum EntryType: UInt8, Sendable, CaseIterable {
    case regular = 1, directory, symlink, hardlink, characterDevice, blockDevice, fifo
}

/// How an entry is protected.
public enum ProtectionClass: UInt8, Sendable, CaseIterable {
    /// Integrity only: the bytes live in the kept layers; the index holds a SHA-256 per chunk.
    case authenticated = 1
    /// Confidentiality and integrity: bytes in the blob, metadata in the encrypted index section.
    case encrypted = 2
}

/// A modification time: seconds since 1970 (may be negative) and nanoseconds below 10^9.
public struct Timestamp: Hashable, Sendable {
    public var seconds: Int64
    public var nanoseconds: UInt32
    public init(seconds: Int64, nanoseconds: UInt32 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }
}

/// One extended attribute (name bytes must be UTF-8; the value is any bytes).
public struct ExtendedAttribute: Hashable, Sendable {
    public var name: String
    public var value: [UInt8]
    public init(name: String, value: [UInt8]) {
        self.name = name
        self.value = value
    }
}

/// One entry of a protected tree: its metadata, its class and its chunk table.
public struct IndexEntry: Hashable, Sendable {
    /// Absolute, normalized: `/` or `/a/b` (see FORMAT.md §5).
    public var path: String
    public var type: EntryType
    public var protection: ProtectionClass
    /// Permission bits only (≤ 0o7777); the file type is `type`.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var mtime: Timestamp
    /// Content length of a regular file; 0 for every other type.
    public var size: UInt64
    /// Target of a symlink, or the path of the regular file a hardlink names; "" otherwise.
    public var linkTarget: String
    /// Device numbers of character and block devices; 0 otherwise.
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    /// Sorted by name, unique.
    public var xattrs: [ExtendedAttribute]
    /// Authenticated regular files: the SHA-256 of each plaintext chunk, `ceil(size / C)` of them.
    public var chunkDigests: [Hash256]
    /// Encrypted regular files: which stream (blob) of the index holds the content.
    public var stream: UInt32
    /// Encrypted regular files: where the content starts in that stream.
    public var streamOffset: UInt64

    public init(path: String, type: EntryType, protection: ProtectionClass = .authenticated,
                mode: UInt32 = 0o644, uid: UInt32 = 0, gid: UInt32 = 0, mtime: Timestamp = Timestamp(seconds: 0),
                size: UInt64 = 0, linkTarget: String = "", deviceMajor: UInt32 = 0, deviceMinor: UInt32 = 0,
                xattrs: [ExtendedAttribute] = [], chunkDigests: [Hash256] = [], stream: UInt32 = 0, streamOffset: UInt64 = 0) {
        self.path = path
        self.type = type
        self.protection = protection
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.mtime = mtime
        self.size = size
        self.linkTarget = linkTarget
        self.deviceMajor = deviceMajor
        self.deviceMinor = deviceMinor
        self.xattrs = xattrs
        self.chunkDigests = chunkDigests
        self.stream = stream
        self.streamOffset = streamOffset
    }

    /// True for entries whose content lives in a blob stream.
    public var isEncryptedRegular: Bool { type == .regular && protection == .encrypted }
}

/// Byte-wise path order, the order of entries in every section.
@inline(__always)
func pathPrecedes(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
}
