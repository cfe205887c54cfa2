import ArcaCore
import CArcaShim
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Mount-namespace work for the runtime: bind mounts, tmpfs, and the pivot into the protected root.
public enum Mounts {
    public static func bind(_ source: String, to target: String, recursive: Bool = true, readOnly: Bool = false) throws {
        let flags = UInt(MS_BIND) | (recursive ? UInt(MS_REC) : 0)
        guard mount(source, target, nil, flags, nil) == 0 else {
            throw ioError("bind-mount \(source) on", target, Errno(rawValue: errno))
        }
        if readOnly {
            guard mount(nil, target, nil, UInt(MS_BIND) | UInt(MS_REMOUNT) | UInt(MS_RDONLY), nil) == 0 else {
                throw ioError("make read-only", target, Errno(rawValue: errno))
            }
        }
    }

    public static func tmpfs(at target: String, mode: String = "1777") throws {
        guard mount("tmpfs", target, "tmpfs", UInt(MS_NOSUID) | UInt(MS_NODEV), "mode=\(mode)") == 0 else {
            throw ioError("mount a tmpfs on", target, Errno(rawValue: errno))
        }
    }

    /// Makes `newRoot` the root of this mount namespace and drops the old one from view:
    /// `pivot_root(".", ".")` stacks the old root on the new, and a lazy unmount detaches it.
    /// Descriptors opened before (the FUSE server's lower tree) keep the old tree reachable.
    public static func pivot(into newRoot: String) throws {
        guard chdir(newRoot) == 0 else { throw ioError("enter", newRoot, Errno(rawValue: errno)) }
        let result = arca_pivot_root(".", ".")
        guard result == 0 else { throw ioError("pivot_root into", newRoot, Errno(rawValue: -result)) }
        guard umount2(".", Int32(MNT_DETACH)) == 0 else { throw ioError("detach the old root under", newRoot, Errno(rawValue: errno)) }
        guard chdir("/") == 0 else { throw ioError("enter", "/", Errno(rawValue: errno)) }
    }

    /// Runs `body` with `/sys` writable if it can be made so, and read-only again after it; only
    /// arca-init runs meanwhile. A container's `/sys` is a read-only mount, and in its own network
    /// namespace its superblock is read-only too (so a second sysfs mount fails with EBUSY): the
    /// superblock is made writable only if it was read-only, never the host's. Without
    /// CAP_SYS_ADMIN `body` gets the read-only one. The runtime writes its FUSE mounts' readahead
    /// windows there, a performance setting: only failing to make `/sys` read-only again throws.
    public static func withWritableSysfs<T>(_ body: () throws -> T) throws -> T {
        func writable() -> Bool { access("/sys/class/bdi", W_OK) == 0 }
        if writable() { return try body() }
        let flags = UInt(MS_NOSUID) | UInt(MS_NODEV) | UInt(MS_NOEXEC)
        let readOnly = UInt(MS_REMOUNT) | UInt(MS_RDONLY) | flags
        guard mount(nil, "/sys", nil, UInt(MS_REMOUNT) | UInt(MS_BIND) | flags, nil) == 0 else { return try body() }
        var superblock = false
        if !writable() {
            superblock = mount(nil, "/sys", nil, UInt(MS_REMOUNT) | flags, nil) == 0
        }
        let result = Result { try body() }
        guard !superblock || mount(nil, "/sys", nil, readOnly, nil) == 0,
              mount(nil, "/sys", nil, readOnly | UInt(MS_BIND), nil) == 0 else {
            throw ioError("make read-only again", "/sys", Errno(rawValue: errno))
        }
        return try result.get()
    }

    /// Turns mount propagation off below `/` so mounts made here never leak to the host.
    public static func makePrivate() throws {
        guard mount(nil, "/", nil, UInt(MS_REC) | UInt(MS_PRIVATE), nil) == 0 else {
            throw ioError("make mounts private under", "/", Errno(rawValue: errno))
        }
    }
}

/// What the runtime needs from its container, checked before anything else happens.
public enum RuntimePreflight {
    /// The guidance shown when FUSE cannot be used: the exact settings for each way of running containers.
    public static let fuseGuidance = """
        arca-init needs the FUSE device and the CAP_SYS_ADMIN capability to mount the protected root.
          runc config.json:  "linux": {"devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}],
                             "resources": {"devices": [{"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}]}}
                             and "CAP_SYS_ADMIN" in process.capabilities.bounding, effective and permitted
          docker / podman:   --device /dev/fuse --cap-add SYS_ADMIN
          Kubernetes:        securityContext: {capabilities: {add: ["SYS_ADMIN"]}} and the /dev/fuse device
                             (a device plugin, or a hostPath volume mounted at /dev/fuse)
        `arca run` sets all of this up.
        """

    /// Throws with `fuseGuidance` when /dev/fuse cannot be opened or CAP_SYS_ADMIN is missing.
    public static func check() throws {
        let fd = open("/dev/fuse", O_RDWR | O_CLOEXEC)
        let fuseError = errno
        if fd >= 0 { close(fd) }
        guard fd >= 0 else {
            throw ArcaError(.unsupported, "/dev/fuse cannot be opened (\(String(cString: strerror(fuseError)))).\n\(fuseGuidance)")
        }
        guard arca_has_sys_admin() == 1 else {
            throw ArcaError(.unsupported, "CAP_SYS_ADMIN is not in this container's effective capabilities.\n\(fuseGuidance)")
        }
    }
}
