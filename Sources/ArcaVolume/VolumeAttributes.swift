#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The attributes of one node, as `stat` reports them.
public struct VolumeAttributes: Sendable, Hashable {
    public var inode: UInt64
    public var kind: NodeKind
    /// `st_mode`: type bits and permission bits.
    public var mode: UInt32
    public var linkCount: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: UInt64
    public var modificationSeconds: Int64
    public var modificationNanoseconds: UInt32
}

/// A `setattr`: each non-nil field is changed.
public struct AttributeUpdate: Sendable, Hashable {
    public var permissions: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?
    public var size: UInt64?
    public var modificationTime: (seconds: Int64, nanoseconds: UInt32)? {
        get { modificationSeconds.map { ($0, modificationNanoseconds) } }
        set {
            modificationSeconds = newValue?.seconds
            modificationNanoseconds = newValue?.nanoseconds ?? 0
        }
    }
    private var modificationSeconds: Int64?
    private var modificationNanoseconds: UInt32 = 0

    public init(permissions: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil, size: UInt64? = nil,
                modificationTime: (seconds: Int64, nanoseconds: UInt32)? = nil) {
        self.permissions = permissions
        self.uid = uid
        self.gid = gid
        self.size = size
        self.modificationTime = modificationTime
    }
}

extension Node {
    func attributes(linkCount: UInt32) -> VolumeAttributes {
        let type: UInt32 = switch kind {
        case .file: S_IFREG
        case .directory: S_IFDIR
        case .symlink: S_IFLNK
        }
        let size: UInt64 = switch kind {
        case .file: self.size
        case .directory: 4096
        case .symlink: UInt64(target.count)
        }
        return VolumeAttributes(inode: inode, kind: kind, mode: type | permissions, linkCount: linkCount, uid: uid, gid: gid,
                                size: size, modificationSeconds: modificationSeconds, modificationNanoseconds: modificationNanoseconds)
    }
}

/// The current wall-clock time.
func now() -> (Int64, UInt32) {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return (Int64(time.tv_sec), UInt32(time.tv_nsec))
}
