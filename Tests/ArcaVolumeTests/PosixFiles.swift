import ArcaCore
import Foundation

/// Direct POSIX calls on the mounted volume, throwing the errno (tests compare errnos).
struct Errno: Error, Equatable, CustomStringConvertible {
    var code: Int32
    var description: String { "errno \(code) (\(String(cString: strerror(code))))" }
}

enum Posix {
    static func check(_ result: Int32) throws {
        if result < 0 { throw Errno(code: errno) }
    }

    static func writeFile(_ path: String, _ bytes: [UInt8], sync: Bool = false) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        try check(fd)
        defer { close(fd) }
        try pwrite(fd, bytes, offset: 0)
        if sync { try check(fsync(fd)) }
    }

    static func pwrite(_ fd: Int32, _ bytes: [UInt8], offset: Int) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Foundation.pwrite(fd, $0.baseAddress! + done, $0.count - done, off_t(offset + done)) }
            if n < 0 { throw Errno(code: errno) }
            done += n
        }
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        try check(fd)
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { throw Errno(code: errno) }
            if n == 0 { return bytes }
            bytes += buffer[..<n]
        }
    }

    /// Every file and directory under `root`: relative path -> content (nil for a directory).
    static func tree(_ root: String) throws -> [String: [UInt8]?] {
        var result: [String: [UInt8]?] = [:]
        func walk(_ relative: String) throws {
            let path = relative.isEmpty ? root : root + "/" + relative
            guard let dir = opendir(path) else { throw Errno(code: errno) }
            var names: [String] = []
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                if name != ".", name != ".." { names.append(name) }
            }
            closedir(dir)
            for name in names {
                let child = relative.isEmpty ? name : relative + "/" + name
                var info = stat()
                try check(lstat(root + "/" + child, &info))
                if info.st_mode & S_IFMT == S_IFDIR {
                    result[child] = .some(nil)
                    try walk(child)
                } else {
                    result[child] = .some(try readFile(root + "/" + child))
                }
            }
        }
        try walk("")
        return result
    }
}
