import ArcaCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The runtime-unpacked image (the kept layers), reached only through a directory descriptor
/// opened before mounting: after the pivot every path resolves into the protected root itself,
/// and a FUSE server that looked up its own backing files by path would deadlock.
public final class LowerTree: Sendable {
    /// The directory descriptor, owned (closed in deinit).
    public let descriptor: Int32

    /// Adopts an open directory descriptor (for example one `arca-init` opened before the pivot).
    public init(adopting descriptor: Int32) throws {
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw ArcaError(.invalidArgument, "descriptor \(descriptor) is not an open directory")
        }
        self.descriptor = descriptor
    }

    /// Opens `path` as the lower tree (before mounting anything over it).
    public convenience init(path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw posixError("open the lower tree", path) }
        try self.init(adopting: fd)
    }

    deinit { close(descriptor) }

    /// Opens the regular file at the index path `path` for reading: one `openat` per component,
    /// none of which may be a symlink (O_NOFOLLOW), so planted links cannot point the read
    /// anywhere else; the last one must be a regular file (O_NONBLOCK: a FIFO planted in its
    /// place cannot block the worker). Returns an owned descriptor.
    func openFile(_ path: String) throws -> Int32 {
        let components = path.utf8.split(separator: UInt8(ascii: "/")).map { String(decoding: $0, as: UTF8.self) }
        guard !components.isEmpty, !components.contains(where: { $0 == ".." || $0 == "." }) else {
            throw ArcaError(.unsafePath, "lower path \(path) is not a normalized file path")
        }
        var current = descriptor
        for (i, component) in components.enumerated() {
            let last = i == components.count - 1
            let flags = last ? O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC
                             : O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
            var fd: Int32
            repeat { fd = openat(current, component, flags) } while fd < 0 && errno == EINTR
            let code = errno
            if current != descriptor { close(current) }
            guard fd >= 0 else {
                if code == ELOOP || code == ENOTDIR {
                    throw ArcaError(.unsafePath, "lower file \(path): \(last ? "it" : "component \(component)") is a symlink or not a directory on disk")
                }
                if code == ENOENT { throw ArcaError(.notFound, "lower file \(path) is missing on disk") }
                throw posixError("open the lower file", path, code)
            }
            current = fd
        }
        var info = stat()
        guard fstat(current, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(current)
            throw ArcaError(.unsafePath, "lower file \(path) is not a regular file on disk")
        }
        return current
    }
}

/// Reads up to `buffer.count` bytes at `offset`, retrying short reads and EINTR; returns how
/// many (fewer only at the end of the file).
func preadFully(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, at offset: UInt64, path: String) throws -> Int {
    var filled = 0
    while filled < buffer.count {
        let n = pread(fd, buffer.baseAddress! + filled, buffer.count - filled, off_t(offset) + off_t(filled))
        if n < 0 {
            if errno == EINTR { continue }
            throw posixError("read the lower file", path)
        }
        if n == 0 { break }
        filled += n
    }
    return filled
}

/// An `io` error naming the operation, the path and `errno`.
func posixError(_ operation: String, _ path: String, _ code: Int32 = errno) -> ArcaError {
    ArcaError(.io, "cannot \(operation) \(path): \(String(cString: strerror(code))) (errno \(code))")
}
