import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Wraps a system call failure into an `ArcaError` that names the operation and the path.
public func ioError(_ operation: String, _ path: String, _ errno: Errno) -> ArcaError {
    ArcaError(.io, "cannot \(operation) \(path): \(errno.description)")
}

/// A buffered reader over an open file descriptor; closes it on `close()` or deinit.
public final class FileSource: ByteSource {
    public let path: String
    private var fd: FileDescriptor?

    public init(path: String) throws {
        self.path = path
        fd = try FileSystem.openForReading(path)
    }

    /// Adopts an already-open descriptor (for example one from `openat`).
    public init(adopting fd: FileDescriptor, path: String) {
        self.fd = fd
        self.path = path
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let fd else { return 0 }
        do {
            return try fd.read(into: buffer, retryOnInterrupt: true)
        } catch let errno as Errno {
            throw ioError("read", path, errno)
        }
    }

    /// Reads at an absolute offset without moving the file position.
    public func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let fd else { return 0 }
        do {
            return try fd.read(fromAbsoluteOffset: offset, into: buffer, retryOnInterrupt: true)
        } catch let errno as Errno {
            throw ioError("read", path, errno)
        }
    }

    /// Moves the read position to `offset` from the start of the file.
    public func seek(to offset: Int64) throws {
        guard let fd else { return }
        do { _ = try fd.seek(offset: offset, from: .start) } catch let errno as Errno { throw ioError("seek", path, errno) }
    }

    public func close() {
        try? fd?.close()
        fd = nil
    }

    deinit { try? fd?.close() }
}

/// A buffered writer to a file. `finish()` flushes, optionally fsyncs, and closes.
public final class FileSink: ByteSink {
    public let path: String
    private var fd: FileDescriptor?
    private var buffer: [UInt8] = []
    private let capacity: Int
    private let sync: Bool

    /// Creates (or truncates) `path` with `permissions`. `exclusive` refuses an existing file.
    public init(path: String, permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead],
                exclusive: Bool = false, sync: Bool = false, capacity: Int = streamChunkSize) throws {
        self.path = path
        self.capacity = capacity
        self.sync = sync
        var options: FileDescriptor.OpenOptions = [.create, .truncate, .closeOnExec]
        if exclusive { options.insert(.exclusiveCreate) }
        do {
            fd = try FileDescriptor.open(FilePath(path), .writeOnly, options: options, permissions: permissions,
                                         retryOnInterrupt: true)
        } catch let errno as Errno {
            if errno == .fileExists { throw ArcaError(.alreadyExists, "\(path) exists already") }
            throw ioError("create", path, errno)
        }
        buffer.reserveCapacity(capacity)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        if buffer.count + bytes.count > capacity { try flush() }
        if bytes.count >= capacity {
            try writeThrough(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    public func finish() throws {
        try flush()
        guard let fd else { return }
        self.fd = nil
        do {
            if sync, fsync(fd.rawValue) != 0 { throw Errno(rawValue: errno) }
            try fd.close()
        } catch let errno as Errno {
            throw ioError("close", path, errno)
        }
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try writeThrough($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeThrough(_ bytes: UnsafeRawBufferPointer) throws {
        guard let fd else { throw ArcaError(.io, "write to \(path) after it was finished") }
        do {
            _ = try fd.writeAll(bytes)
        } catch let errno as Errno {
            if errno == .noSpace { throw ArcaError(.io, "no space left on the device while writing \(path)") }
            throw ioError("write", path, errno)
        }
    }

    deinit { try? fd?.close() }
}

/// Small file-system helpers that throw `ArcaError`s naming the path.
public enum FileSystem {
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Size of a regular file, following symlinks.
    public static func size(_ path: String) throws -> Int64 {
        var info = stat()
        guard stat(path, &info) == 0 else { throw ioError("stat", path, Errno(rawValue: errno)) }
        return Int64(info.st_size)
    }

    /// Creates `path` and its missing parents (like `mkdir -p`).
    public static func makeDirectories(_ path: String, permissions: mode_t = 0o755) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, permissions) != 0 {
                let error = Errno(rawValue: errno)
                if error == .fileExists, isDirectory(current) { continue }
                throw ioError("create directory", current, error)
            }
        }
    }

    public static func readFile(_ path: String, limit: Int) throws -> [UInt8] {
        let source = try FileSource(path: path)
        defer { source.close() }
        return try source.readAll(limit: limit, what: path)
    }

    /// Writes `bytes` to a temporary file next to `path`, then renames it into place,
    /// so a reader never sees a partial file.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead]) throws {
        // Unique per call, not per process: threads of one process may write the same path.
        let temporary = path + ".tmp-\(String(UInt64.random(in: .min ... .max), radix: 16))"
        let sink = try FileSink(path: temporary, permissions: permissions)
        do {
            try sink.write(bytes)
            try sink.finish()
            try rename(temporary, to: path)
        } catch {
            unlink(temporary)
            throw error
        }
    }

    public static func rename(_ from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw ioError("rename \(from) to", to, Errno(rawValue: errno)) }
    }

    /// Removes a file or a whole directory tree; a missing path is not an error. Never follows symlinks.
    public static func removeTree(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in try listDirectory(path) { try removeTree(path + "/" + name) }
            guard rmdir(path) == 0 else { throw ioError("remove", path, Errno(rawValue: errno)) }
        } else {
            guard unlink(path) == 0 else { throw ioError("remove", path, Errno(rawValue: errno)) }
        }
    }

    /// The names in a directory, sorted, without `.` and `..`.
    public static func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw ioError("list", path, Errno(rawValue: errno)) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Creates a fresh private directory under `parent` (default `$TMPDIR` or /tmp).
    public static func makeTemporaryDirectory(prefix: String = "arca", in parent: String? = nil) throws -> String {
        let base = parent ?? (getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp")
        var template = Array("\(base)/\(prefix)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw ioError("create a temporary directory in", base, Errno(rawValue: errno)) }
        return template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}

extension FileSystem {
    /// A fresh, unused file name in `directory` (not created).
    public static func makeTemporaryName(in directory: String, prefix: String) -> String {
        "\(directory)/\(prefix)-\(String(UInt64.random(in: .min ... .max), radix: 16))"
    }
}

/// Reads `length` bytes of a file starting at `offset`, with positional reads (several region
/// sources over one file may be read from different threads).
public final class FileRegionSource: ByteSource {
    private let file: FileSource
    private var position: Int64
    private let end: Int64

    public init(path: String, offset: Int64, length: Int64) throws {
        self.file = try FileSource(path: path)
        self.position = offset
        self.end = offset + length
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let want = Int(min(Int64(buffer.count), end - position))
        guard want > 0 else { return 0 }
        let n = try file.read(at: position, into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]))
        position += Int64(n)
        return n
    }
}

extension FileSystem {
    /// Opens `relativePath` below the directory `root` for reading without following any symlink
    /// on the way (each component is opened with `O_NOFOLLOW`), so a tree that plants links
    /// cannot redirect the open outside `root`.
    public static func openBeneath(_ root: String, _ relativePath: String) throws -> FileDescriptor {
        var current = try FileDescriptor.open(FilePath(root), .readOnly, options: [.directory, .closeOnExec])
        let parts = relativePath.split(separator: "/").filter { $0 != "." }
        for (index, part) in parts.enumerated() {
            guard part != ".." else { throw ArcaError(.unsafePath, "\(relativePath) contains ..") }
            let last = index == parts.count - 1
            let fd = openat(current.rawValue, String(part), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (last ? 0 : O_DIRECTORY))
            let error = errno
            try? current.close()
            guard fd >= 0 else {
                if error == ELOOP || error == ENOTDIR {
                    throw ArcaError(.unsafePath, "\(root)/\(relativePath) goes through a symlink or a non-directory")
                }
                throw ioError("open", "\(root)/\(relativePath)", Errno(rawValue: error))
            }
            current = FileDescriptor(rawValue: fd)
        }
        return current
    }
}

extension FileSystem {
    /// Opens `path` read-only (close-on-exec); a missing file is `notFound`, naming the path.
    public static func openForReading(_ path: String) throws -> FileDescriptor {
        do {
            return try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec], retryOnInterrupt: true)
        } catch let errno as Errno {
            if errno == .noSuchFileOrDirectory { throw ArcaError(.notFound, "\(path) does not exist") }
            throw ioError("open", path, errno)
        }
    }
}
