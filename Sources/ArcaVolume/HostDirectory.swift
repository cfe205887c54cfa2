import ArcaCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The volume's host directory, reached only through a directory descriptor opened at start
/// (never by path afterwards: after the pivot, paths may resolve into the FUSE mount itself).
/// Holds the lease: an exclusive `flock` on `lock`, released when the process dies.
final class HostDirectory {
    let path: String
    private var fd: Int32
    var descriptor: Int32 { fd }
    private var lockFd: Int32 = -1
    /// Open read descriptors by name (`readRange`).
    private var readers: [String: Int32] = [:]
    private var lockFreeReads = 0
    private var deferredCloses: [Int32] = []
    private static let readerLimit = 32

    init(path: String, create: Bool) throws {
        if create, mkdir(path, 0o700) != 0, errno != EEXIST { throw Self.failure("create", path) }
        fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.failure("open the volume directory", path) }
        self.path = path
    }

    deinit { close() }

    /// Closes the descriptors and drops the lease (idempotent: a second close must not close a
    /// descriptor number that was reused meanwhile).
    func close() {
        for file in readers.values { retire(file) }  // a read still running keeps its descriptor
        readers.removeAll()
        if lockFd >= 0 { Glibc.close(lockFd); lockFd = -1 }
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    /// Takes the lease or throws `volumeBusy`.
    func acquireLease() throws {
        let lock = openat(fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw Self.failure("open the lease file of", path) }
        // Retried for up to half a second: a lock just dropped can linger while a child forked
        // meanwhile (by any thread of this process) still holds a copy of the descriptor.
        var code: Int32 = 0
        for _ in 0..<50 {
            if flock(lock, LOCK_EX | LOCK_NB) == 0 {
                lockFd = lock
                return
            }
            code = errno
            guard code == EWOULDBLOCK || code == EINTR else { break }
            usleep(10_000)
        }
        Glibc.close(lock)
        if code == EWOULDBLOCK {
            throw ArcaError(.volumeBusy, "volume at \(path) is in use by another process (its lease is held); one container at a time may use a volume")
        }
        throw Self.failure("lock", path, code)
    }

    func makeDirectory(_ name: String) throws {
        if mkdirat(fd, name, 0o700) != 0, errno != EEXIST { throw Self.failure("create", "\(path)/\(name)") }
    }

    func exists(_ name: String) -> Bool { faccessat(fd, name, F_OK, 0) == 0 }

    /// The whole file `name`, at most `limit` bytes; `notFound` when absent.
    func read(_ name: String, limit: Int) throws -> [UInt8] {
        let file = openat(fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard file >= 0 else {
            if errno == ENOENT { throw ArcaError(.notFound, "\(path)/\(name) does not exist") }
            throw Self.failure("open", "\(path)/\(name)")
        }
        defer { Glibc.close(file) }
        // Read straight into an array of the file's size (metadata files are large).
        var info = stat()
        if fstat(file, &info) == 0, info.st_size >= 0, info.st_size <= limit {
            let size = Int(info.st_size)
            var failed = false
            let bytes = [UInt8](unsafeUninitializedCapacity: size + 1) { buffer, count in
                var done = 0
                while done <= size {  // one byte more than expected notices a file that grew
                    let n = Glibc.read(file, buffer.baseAddress! + done, size + 1 - done)
                    if n < 0 {
                        if errno == EINTR { continue }
                        failed = true
                        break
                    }
                    if n == 0 { break }
                    done += n
                }
                count = done
            }
            if !failed && bytes.count == size { return bytes }
            // The size changed under us (or a read failed): fall back to the loop below.
            guard lseek(file, 0, SEEK_SET) == 0 else { throw Self.failure("seek", "\(path)/\(name)") }
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(file, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Self.failure("read", "\(path)/\(name)")
            }
            if n == 0 { return bytes }
            guard bytes.count + n <= limit else {
                throw ArcaError(.limitExceeded, "\(path)/\(name) is over the \(formatBytes(limit)) limit")
            }
            bytes.append(contentsOf: buffer[..<n])
        }
    }

    /// Writes the file `name` (created, or replaced: a leftover of an uncommitted write under the
    /// same name), not yet durable: the commit fsyncs it (`syncFiles`). A failed write removes
    /// the file again (it would hold the space a retry needs).
    func writeFile(_ name: String, _ bytes: [UInt8]) throws {
        let writer = try FileWriter(self, name)
        do {
            try writer.append(bytes)
            writer.close()
        } catch {
            writer.discard()
            throw error
        }
    }

    /// A new file written in pieces (a segment as its chunks are sealed).
    final class FileWriter {
        private let host: HostDirectory
        private let name: String
        private var file: Int32

        init(_ host: HostDirectory, _ name: String) throws {
            self.host = host
            self.name = name
            file = openat(host.fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard file >= 0 else { throw HostDirectory.failure("create", "\(host.path)/\(name)") }
        }

        func append(_ bytes: [UInt8]) throws { try HostDirectory.writeAll(file, bytes, "\(host.path)/\(name)") }

        /// Writes `bytes` at `offset` (safe from several threads at once for disjoint ranges).
        func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
            var done = 0
            while done < bytes.count {
                let n = pwrite(file, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw HostDirectory.failure("write", "\(host.path)/\(name)")
                }
                done += n
            }
        }

        /// Starts the kernel writing the file's pages to disk without waiting (`sync_file_range`
        /// with `SYNC_FILE_RANGE_WRITE`): the commit's fsync then has less left to wait for. Not a
        /// durability step (the fsync is), so a failure is ignored.
        func startWriteback() {
            if file >= 0, let start = FileWriter.syncFileRange { _ = start(file, 0, 0, 2) }  // 2: SYNC_FILE_RANGE_WRITE
        }

        /// glibc's `sync_file_range`, looked up at run time (the Glibc module does not export it).
        private static let syncFileRange: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32)? =
            dlsym(nil, "sync_file_range").map { unsafeBitCast($0, to: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32).self) }

        func close() {
            if file >= 0 { Glibc.close(file) }
            file = -1
        }

        /// Closes and removes the file (a failed write).
        func discard() {
            close()
            host.remove(name)
        }

        deinit { close() }
    }

    /// Exactly `count` bytes of `name` from `offset`; an `integrity` error when the file is
    /// shorter (a segment the host truncated), `notFound` when it is missing.
    func readRange(_ name: String, offset: UInt64, count: Int) throws -> [UInt8] {
        try Self.readRange(try readDescriptor(name), offset: offset, count: count, what: "\(path)/\(name)")
    }

    /// The kept read descriptor of `name`, for a read that runs without the volume's lock:
    /// until the matching `endLockFreeRead`, no kept descriptor is closed (a `remove` or an
    /// eviction defers it), so the number cannot be reused for another file under that read.
    func beginLockFreeRead(_ name: String) throws -> Int32 {
        let file = try readDescriptor(name)
        lockFreeReads += 1
        return file
    }

    func endLockFreeRead() {
        lockFreeReads -= 1
        if lockFreeReads == 0 {
            for file in deferredCloses { Glibc.close(file) }
            deferredCloses.removeAll()
        }
    }

    /// Closes a kept descriptor now, or when the last lock-free read ends.
    private func retire(_ file: Int32) {
        if lockFreeReads > 0 { deferredCloses.append(file) } else { Glibc.close(file) }
    }

    /// Exactly `count` bytes of the open file `file` from `offset` (see `readRange`); `what` (the
    /// file, for messages) is only built on failure.
    static func readRange(_ file: Int32, offset: UInt64, count: Int, what: @autoclosure () -> String) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: count) { buffer, done in
            try readRange(file, offset: offset, into: UnsafeMutableRawBufferPointer(buffer), what: what())
            done = count
        }
    }

    /// Fills `buffer` with the bytes of the open file `file` from `offset`; a file that ends
    /// before is `integrity` (truncated). `what` (the file, for messages) is only built on failure.
    static func readRange(_ file: Int32, offset: UInt64, into buffer: UnsafeMutableRawBufferPointer, what: @autoclosure () -> String) throws {
        let count = buffer.count
        guard offset <= UInt64(Int64.max) - UInt64(count) else {
            throw ArcaError(.integrity, "\(what()): offset \(offset) is out of range")
        }
        var done = 0
        while done < count {
            let n = pread(file, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw Self.failure("read", what())
            }
            if n == 0 {
                throw ArcaError(.integrity, "\(what()) ends before byte \(offset + UInt64(count)) (truncated)")
            }
            done += n
        }
    }

    /// The size of the file `name` in bytes.
    func size(of name: String) throws -> Int {
        var info = stat()
        guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { throw Self.failure("stat", "\(path)/\(name)") }
        return Int(info.st_size)
    }

    /// Replaces `name` atomically and durably: temporary file, fsync, rename, fsync of its directory.
    func replaceDurably(_ name: String, _ bytes: [UInt8], directory: String) throws {
        let temporary = name + ".tmp"
        unlinkat(fd, temporary, 0)
        let file = openat(fd, temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard file >= 0 else { throw Self.failure("create", "\(path)/\(temporary)") }
        do {
            try Self.writeAll(file, bytes, "\(path)/\(temporary)")
            guard fsync(file) == 0 else { throw Self.failure("fsync", "\(path)/\(temporary)") }
        } catch {
            Glibc.close(file)
            unlinkat(fd, temporary, 0)
            throw error
        }
        Glibc.close(file)
        guard renameat(fd, temporary, fd, name) == 0 else { throw Self.failure("rename", "\(path)/\(temporary)") }
        try syncDirectory(directory)
    }

    /// fsyncs the files `names`, several at once (`ParallelSync`); a file already gone is skipped
    /// (it was obsolete).
    func syncFiles(_ names: [String]) throws {
        if let failure = ParallelSync.run(directory: fd, names: names) {
            throw Self.failure("fsync", "\(path)/\(failure.name)", failure.code)
        }
    }

    func syncDirectory(_ name: String) throws {
        let dir = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { throw Self.failure("open", "\(path)/\(name)") }
        defer { Glibc.close(dir) }
        guard fsync(dir) == 0 else { throw Self.failure("fsync", "\(path)/\(name)") }
    }

    func remove(_ name: String) {
        if let file = readers.removeValue(forKey: name) { retire(file) }
        unlinkat(fd, name, 0)
    }

    /// A read descriptor of `name`, kept open for later reads (up to `readerLimit` files; the
    /// names are never rewritten in place while open, and `remove` closes them).
    private func readDescriptor(_ name: String) throws -> Int32 {
        if let file = readers[name] { return file }
        let file = openat(fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard file >= 0 else {
            if errno == ENOENT { throw ArcaError(.notFound, "\(path)/\(name) does not exist") }
            throw Self.failure("open", "\(path)/\(name)")
        }
        if readers.count >= Self.readerLimit, let victim = readers.first {
            retire(victim.value)
            readers[victim.key] = nil
        }
        readers[name] = file
        return file
    }

    /// The names in the subdirectory `name` (without `.` and `..`).
    func list(_ name: String) throws -> [String] {
        let dirFd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirFd >= 0 else { throw Self.failure("open", "\(path)/\(name)") }
        guard let dir = fdopendir(dirFd) else {
            Glibc.close(dirFd)
            throw Self.failure("list", "\(path)/\(name)")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let entryName = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if entryName != ".", entryName != ".." { names.append(entryName) }
        }
        return names
    }

    static func writeAll(_ file: Int32, _ bytes: [UInt8], _ what: String) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(file, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("write", what)
            }
            done += n
        }
    }

    static func failure(_ operation: String, _ what: String, _ code: Int32 = errno) -> ArcaError {
        // A full host file system is the service's ENOSPC, not an integrity failure (EIO).
        ArcaError(code == ENOSPC || code == EDQUOT ? .noSpace : .io,
                  "cannot \(operation) \(what): \(String(cString: strerror(code))) (errno \(code))")
    }

    /// Durably replaces the file at `path` (used by the file-backed anchor, outside any volume).
    static func writeDurably(_ bytes: [UInt8], path: String) throws {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) }.flatMap { $0.isEmpty ? "/" : $0 } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let dir = try HostDirectory(path: directory, create: false)
        try dir.replaceDurably(name, bytes, directory: ".")
    }
}

extension HostDirectory {
    /// Overwrites `bytes` at `offset` in the existing file at `path` and fdatasyncs it (the file
    /// anchor's slot write).
    static func writeSlot(_ bytes: [UInt8], at offset: Int, path: String) throws {
        let file = Glibc.open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)
        guard file >= 0 else { throw failure("open", path) }
        defer { Glibc.close(file) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(file, $0.baseAddress! + done, $0.count - done, off_t(offset + done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("write", path)
            }
            done += n
        }
        guard fdatasync(file) == 0 else { throw failure("fdatasync", path) }
    }

    /// The host file system's block size, block count and free blocks.
    func statistics() throws -> (blockSize: UInt64, blocks: UInt64, free: UInt64) {
        var info = statvfs()
        guard fstatvfs(descriptor, &info) == 0 else { throw Self.failure("statfs", path) }
        return (UInt64(info.f_frsize), UInt64(info.f_blocks), UInt64(info.f_bavail))
    }
}
