import ArcaCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The errno of a failed system call.
struct SystemError: Error, Sendable, CustomStringConvertible {
    let code: Int32
    var description: String { String(cString: strerror(code)) }
}

/// Runs a call that returns -1 and sets errno, retrying on EINTR.
func systemCall(_ body: () -> Int32) throws(SystemError) -> Int32 {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = errno
        if code != EINTR { throw SystemError(code: code) }
    }
}

/// Like `systemCall`, but throws an `ArcaError(.io)` naming the operation and the path.
@discardableResult
func checkedCall(_ operation: String, _ path: String, _ body: () -> Int32) throws -> Int32 {
    do {
        return try systemCall(body)
    } catch {
        throw ArcaError(.io, "cannot \(operation) \(ArchivePath.quoted(path)): \(error)", cause: error)
    }
}

/// An open file descriptor, closed when the object goes away.
final class Descriptor {
    let fd: Int32
    init(_ fd: Int32) { self.fd = fd }
    deinit { close(fd) }
}

/// Reads a descriptor (it stays owned by the `Descriptor`).
final class DescriptorSource: ByteSource {
    private let descriptor: Descriptor
    private let path: String

    init(_ descriptor: Descriptor, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        while true {
            let n = Glibc.read(descriptor.fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno != EINTR {
                throw ArcaError(.io, "cannot read \(ArchivePath.quoted(path)): \(SystemError(code: errno))")
            }
        }
    }
}

/// Writes all of `bytes` to `fd`, retrying short writes and EINTR.
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
    var rest = bytes
    while !rest.isEmpty {
        let n = Glibc.write(fd, rest.baseAddress, rest.count)
        if n < 0 {
            if errno == EINTR { continue }
            throw ArcaError(.io, "cannot write \(ArchivePath.quoted(path)): \(SystemError(code: errno))")
        }
        rest = UnsafeRawBufferPointer(rebasing: rest[n...])
    }
}

/// `lstat` relative to a directory descriptor; nil if the name does not exist.
func statAt(_ directory: Int32, _ name: String, path: String) throws -> stat? {
    var info = stat()
    do {
        _ = try systemCall { fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) }
        return info
    } catch {
        if error.code == ENOENT { return nil }
        throw ArcaError(.io, "cannot stat \(ArchivePath.quoted(path)): \(error)", cause: error)
    }
}

/// The names in the directory open at `fd` (sorted by bytes, without `.` and `..`).
func listDirectory(_ fd: Int32, path: String) throws -> [String] {
    let copy = try checkedCall("duplicate the descriptor of", path) { dup(fd) }
    guard let stream = fdopendir(copy) else {
        close(copy)
        throw ArcaError(.io, "cannot list \(ArchivePath.quoted(path)): \(SystemError(code: errno))")
    }
    defer { closedir(stream) }
    rewinddir(stream)
    var names: [[UInt8]] = []
    while let entry = readdir(stream) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
        if name != [UInt8(ascii: ".")], name != [UInt8(ascii: "."), UInt8(ascii: ".")] { names.append(name) }
    }
    return names.sorted { $0.lexicographicallyPrecedes($1) }.map { String(decoding: $0, as: UTF8.self) }
}

/// The file-type bits of a mode.
func fileType(_ mode: mode_t) -> mode_t { mode & S_IFMT }

/// `makedev` (a macro Swift cannot import), as glibc encodes it.
func makeDevice(major: UInt32, minor: UInt32) -> dev_t {
    let major = UInt64(major)
    let minor = UInt64(minor)
    return dev_t((major & 0xffff_f000) << 32 | (major & 0xfff) << 8 | (minor & 0xffff_ff00) << 12 | (minor & 0xff))
}

/// `major(dev)` and `minor(dev)`.
func splitDevice(_ device: dev_t) -> (major: UInt32, minor: UInt32) {
    let dev = UInt64(device)
    let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
    let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
    return (UInt32(truncatingIfNeeded: major), UInt32(truncatingIfNeeded: minor))
}

/// Extended-attribute calls. Swift's Glibc module does not include `<sys/xattr.h>`, so the libc
/// functions are looked up once with `dlsym` rather than adding a C target for two prototypes.
enum ExtendedAttributes {
    private typealias SetFunction = @convention(c) (Int32, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32) -> Int32
    private typealias ListFunction = @convention(c) (Int32, UnsafeMutablePointer<CChar>?, Int) -> Int
    private typealias GetFunction = @convention(c) (Int32, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int

    private static func symbol<T>(_ name: String, as type: T.Type) -> T? {
        guard let pointer = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(pointer, to: type)
    }

    /// `fsetxattr(fd, name, value, size, 0)`; throws the errno.
    static func set(_ fd: Int32, name: String, value: [UInt8]) throws(SystemError) {
        guard let function = symbol("fsetxattr", as: SetFunction.self) else { throw SystemError(code: ENOTSUP) }
        _ = try systemCall {
            value.withUnsafeBytes { bytes in function(fd, name, bytes.baseAddress, bytes.count, 0) }
        }
    }

    /// All xattrs of the file open at `fd` (empty when the file system has none or refuses).
    static func all(_ fd: Int32) -> [String: [UInt8]] {
        guard let list = symbol("flistxattr", as: ListFunction.self),
              let get = symbol("fgetxattr", as: GetFunction.self) else { return [:] }
        let size = list(fd, nil, 0)
        guard size > 0 else { return [:] }
        var names = [CChar](repeating: 0, count: size)
        let got = list(fd, &names, size)
        guard got > 0 else { return [:] }
        var result: [String: [UInt8]] = [:]
        for raw in names[..<got].split(separator: 0) {
            let name = String(decoding: raw.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let length = get(fd, name, nil, 0)
            guard length >= 0 else { continue }
            var value = [UInt8](repeating: 0, count: length)
            let read = value.withUnsafeMutableBytes { get(fd, name, $0.baseAddress, length) }
            if read >= 0 { result[name] = Array(value.prefix(read)) }
        }
        return result
    }
}
