import ArcaCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The kernel's handle on one FUSE mount: its number under `/sys/fs/fuse/connections`, through
/// which a stuck connection is aborted (every pending and future request fails with ENOTCONN).
public struct FUSEConnection: Sendable, Hashable {
    public let id: UInt32
    public static let controlDirectory = "/sys/fs/fuse/connections"

    public init(id: UInt32) { self.id = id }

    /// The connection of the FUSE mount at `mountpoint` (the newest one there), from
    /// `/proc/self/mountinfo`: reading it sends no request to the file system, so it cannot hang.
    public static func find(mountpoint: String) throws -> FUSEConnection {
        let bytes = try FileSystem.readFile("/proc/self/mountinfo", limit: 64 << 20)
        var found: FUSEConnection?
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            guard fields.count > 6, let dash = fields.firstIndex(where: { $0.elementsEqual("-".utf8) }),
                  dash + 1 < fields.count, fields[dash + 1].starts(with: "fuse".utf8),
                  unescape(fields[4]) == Array(mountpoint.utf8) else { continue }
            let device = fields[2].split(separator: UInt8(ascii: ":"))
            guard device.count == 2, let major = UInt32(String(decoding: device[0], as: UTF8.self)),
                  let minor = UInt32(String(decoding: device[1], as: UTF8.self)) else { continue }
            found = FUSEConnection(id: major << 20 | minor)  // the kernel's dev_t encoding (MKDEV)
        }
        guard let found else { throw ArcaError(.notFound, "no fuse mount at \(mountpoint) in /proc/self/mountinfo") }
        return found
    }

    /// Aborts the connection, mounting `fusectl` at `controlDirectory` first when needed.
    /// Never blocks on the file system itself.
    public func abort() throws {
        let path = "\(Self.controlDirectory)/\(id)/abort"
        if access(path, F_OK) != 0 {
            // Not mounted yet (a fresh container or host): fusectl lives at a fixed place.
            if Glibc.mount("fusectl", Self.controlDirectory, "fusectl", 0, nil) != 0, errno != EBUSY {
                throw systemError("mount fusectl at", Self.controlDirectory)
            }
        }
        let fd = Glibc.open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw systemError("open", path) }
        defer { close(fd) }
        guard Glibc.write(fd, "1", 1) == 1 else { throw systemError("write", path) }
    }

    /// Sets the kernel's readahead window of the mount (its `/sys/class/bdi/MAJOR:MINOR` entry) to
    /// `bytes`, rounded down to KiB. Best effort: without root or a writable sysfs the
    /// window stays as it was (a performance setting, never a failure of the mount); returns
    /// whether it was set. Only sticks once the kernel has processed the INIT reply, which caps
    /// the window at the value the kernel offered.
    @discardableResult
    public func setReadAhead(bytes: UInt32) -> Bool {
        let path = "/sys/class/bdi/\(id >> 20):\(id & 0xfffff)/read_ahead_kb"
        let fd = Glibc.open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let value = Array(String(bytes / 1024).utf8)
        return value.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == value.count
    }

    /// mountinfo escapes space, tab, newline and backslash as `\ooo`.
    private static func unescape(_ field: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        var i = field.startIndex
        while i < field.endIndex {
            if field[i] == UInt8(ascii: "\\"), i + 3 < field.endIndex,
               let value = UInt8(String(decoding: field[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(value)
                i += 4
            } else {
                out.append(field[i])
                i += 1
            }
        }
        return out
    }
}

/// An `io` error naming the operation, the path and the current `errno`.
func systemError(_ operation: String, _ path: String, _ code: Int32 = errno) -> ArcaError {
    ArcaError(.io, "cannot \(operation) \(path): \(String(cString: strerror(code))) (errno \(code))")
}
