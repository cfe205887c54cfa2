/// How a FUSE file system is mounted and how much the kernel may cache.
public struct MountOptions: Sendable {
    /// Shown as the source in `/proc/mounts` (`fsname=`); the type is `fuse.<subtype>`.
    public var name: String = "arca"
    public var subtype: String = "arca"
    /// Let users other than the mounting one in (the service runs as the image's USER).
    public var allowOther: Bool = true
    /// Let the kernel check permissions against the reported mode, uid and gid.
    public var defaultPermissions: Bool = true
    /// Honour set-user-ID bits (an image's `su`, `ping`); off means `nosuid`.
    public var allowSetuid: Bool = true
    /// Allow device nodes to work; off means `nodev`.
    public var allowDevices: Bool = false
    /// Seconds the kernel may cache names and attributes; the content is immutable, so long.
    public var entryTimeout: Double = 86_400
    public var attributeTimeout: Double = 86_400
    /// Seconds the kernel may remember that a name does not exist (0: it asks again every time).
    /// Only for a tree that no other path can add names to.
    public var negativeTimeout: Double = 86_400
    /// Keep file pages and directory listings cached across opens (immutable content).
    public var keepCache: Bool = true
    /// Keep directory listings cached across opens as well (with `keepCache`); off for a file
    /// system that changes, where only file pages are kept.
    public var cacheDirectories: Bool = true
    /// The kernel's writeback cache (`FUSE_CAP_WRITEBACK_CACHE`): writes land in the page cache
    /// and reach the file system coalesced, at writeback, close or fsync; the kernel keeps size
    /// and mtime. Only for a writable file system that changes through this mount alone.
    public var writebackCache: Bool = false
    /// The largest write request in bytes (0: libfuse's default); libfuse caps it at 1 MiB.
    public var maximumWrite: UInt32 = 0
    /// The kernel's readahead window for this mount in bytes (0: the kernel's default, 128 KiB).
    /// Read requests are as large as `maximumWrite` allows (libfuse derives `max_pages` from it),
    /// so a window of several of them keeps several in flight. The FUSE protocol can only lower
    /// the window, so a larger one is written to the mount's `/sys/class/bdi` entry once the
    /// mount is up (root and a writable `/sys` only: a container's is read-only, and arca-init
    /// makes it writable while it mounts volumes; otherwise the default stays, and
    /// `FUSEMount.readAheadApplied` is false).
    public var readAhead: UInt32 = 0
    /// Mount read-write (`rw`) for `WritableFileSystemOperations`; off (`ro`) by default.
    public var writable: Bool = false
    /// Worker threads kept waiting for requests (libfuse starts more when they are all busy).
    public var idleThreads: UInt32 = 4

    public init() {}

    /// The `-o` string handed to libfuse.
    var optionString: String {
        var options = [writable ? "rw" : "ro", "fsname=\(name)", "subtype=\(subtype)"]
        if allowOther { options.append("allow_other") }
        if defaultPermissions { options.append("default_permissions") }
        options.append(allowSetuid ? "suid" : "nosuid")
        options.append(allowDevices ? "dev" : "nodev")
        return options.joined(separator: ",")
    }
}
