import ArcaCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A sorted, line-per-path description of a file tree, to compare two trees (Arca's extraction
/// against `umoci unpack`, or the `Rootfs` model against a directory):
///
///     path type mode uid gid size sha256 link
///
/// `type` is file, dir, symlink, char, block or fifo; `mode` four octal digits; `sha256` the
/// content digest of files (`-` otherwise); `link` a symlink's target, `major,minor` of a device,
/// or `-`. Paths and targets escape space, backslash and control bytes as `\ooo`. Times, xattrs
/// and hardlink identity are not part of the line (extractors legitimately differ there).
public enum TreeManifest {
    /// The manifest of a directory on disk (the directory itself is `.`), never following symlinks.
    public static func lines(directory: String) throws -> [String] {
        let root = Descriptor(try checkedCall("open", directory) { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) })
        var lines: [String] = []
        try walk(root.fd, path: ArchivePath.root, lines: &lines)
        return lines
    }

    /// The manifest of a `Rootfs` model; `openLayer(i)` returns layer i's uncompressed tar
    /// stream. Each layer is read once, front to back.
    public static func lines(rootfs: Rootfs, openLayer: (Int) throws -> any ByteSource) throws -> [String] {
        var ranges: Set<ContentLocation> = []
        for item in rootfs.items where item.node.content != .none { ranges.insert(item.node.content) }
        var byLayer: [Int: [(offset: Int64, size: Int64)]] = [:]
        for case .layer(let index, let offset, let size) in ranges { byLayer[index, default: []].append((offset, size)) }
        var digests: [ContentLocation: String] = [:]
        for index in byLayer.keys.sorted() {
            let source = try openLayer(index)
            var position: Int64 = 0
            for (offset, size) in (byLayer[index] ?? []).sorted(by: { $0.offset < $1.offset }) {
                let location = ContentLocation.layer(index: index, offset: offset, size: size)
                guard offset >= position, try source.discard(offset - position) == offset - position else {
                    throw ArcaError(.integrity, "layer \(index) ends before offset \(offset)")
                }
                let hasher = HashingSink()
                try LimitedSource(source, limit: size).copy(to: hasher)
                guard hasher.count == size else { throw ArcaError(.integrity, "layer \(index) ends inside the file at offset \(offset)") }
                digests[location] = hasher.hexDigest()
                position = offset + size
            }
        }
        let emptyDigest = sha256Hex([UInt8]())
        return rootfs.items.map { item in
            let node = item.node
            let digest = node.type == .regular ? (digests[node.content] ?? emptyDigest) : "-"
            let link: String = switch node.type {
            case .symlink: escape(node.linkTarget)
            case .characterDevice, .blockDevice: "\(node.deviceMajor),\(node.deviceMinor)"
            default: "-"
            }
            return line(path: item.path, type: name(node.type), mode: node.mode, uid: node.uid, gid: node.gid,
                        size: node.type == .regular ? node.size : 0, digest: digest, link: link)
        }
    }

    private static func walk(_ fd: Int32, path: String, lines: inout [String]) throws {
        var info = stat()
        try checkedCall("stat", path) { fstat(fd, &info) }
        lines.append(line(path: path, type: "dir", mode: UInt32(info.st_mode) & 0o7777, uid: Int(info.st_uid),
                          gid: Int(info.st_gid), size: 0, digest: "-", link: "-"))
        for name in try listDirectory(fd, path: path) {
            let child = ArchivePath.join(path, name)
            guard let info = try statAt(fd, name, path: child) else { continue }
            let mode = UInt32(info.st_mode) & 0o7777
            let (uid, gid) = (Int(info.st_uid), Int(info.st_gid))
            switch fileType(info.st_mode) {
            case S_IFDIR:
                let sub = Descriptor(try checkedCall("open", child) { openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) })
                try walk(sub.fd, path: child, lines: &lines)
            case S_IFREG:
                let file = Descriptor(try checkedCall("open", child) { openat(fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) })
                let hasher = HashingSink()
                try DescriptorSource(file, path: child).copy(to: hasher)
                lines.append(line(path: child, type: "file", mode: mode, uid: uid, gid: gid, size: hasher.count,
                                  digest: hasher.hexDigest(), link: "-"))
            case S_IFLNK:
                var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = buffer.withUnsafeMutableBufferPointer { pointer in
                    pointer.withMemoryRebound(to: CChar.self) { chars in
                        chars.baseAddress.map { readlinkat(fd, name, $0, chars.count) } ?? -1
                    }
                }
                guard n >= 0 else { throw ArcaError(.io, "cannot read the symlink \(ArchivePath.quoted(child)): \(SystemError(code: errno))") }
                let target = String(decoding: buffer[..<n], as: UTF8.self)
                lines.append(line(path: child, type: "symlink", mode: mode, uid: uid, gid: gid, size: 0, digest: "-",
                                  link: escape(target)))
            case S_IFCHR, S_IFBLK:
                let (major, minor) = splitDevice(info.st_rdev)
                lines.append(line(path: child, type: fileType(info.st_mode) == S_IFCHR ? "char" : "block", mode: mode,
                                  uid: uid, gid: gid, size: 0, digest: "-", link: "\(major),\(minor)"))
            case S_IFIFO:
                lines.append(line(path: child, type: "fifo", mode: mode, uid: uid, gid: gid, size: 0, digest: "-", link: "-"))
            default:
                lines.append(line(path: child, type: "other", mode: mode, uid: uid, gid: gid, size: 0, digest: "-", link: "-"))
            }
        }
    }

    private static func name(_ type: TarEntry.EntryType) -> String {
        switch type {
        case .regular, .hardlink: "file"
        case .directory: "dir"
        case .symlink: "symlink"
        case .characterDevice: "char"
        case .blockDevice: "block"
        case .fifo: "fifo"
        }
    }

    private static func line(path: String, type: String, mode: UInt32, uid: Int, gid: Int, size: Int64,
                             digest: String, link: String) -> String {
        let octal = String(mode, radix: 8)
        let paddedMode = String(repeating: "0", count: max(0, 4 - octal.count)) + octal
        return "\(escape(path)) \(type) \(paddedMode) \(uid) \(gid) \(size) \(digest) \(link)"
    }

    /// Escapes bytes that would break a line's fields: space, backslash, control bytes.
    static func escape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if byte <= 0x20 || byte == 0x7f || byte == UInt8(ascii: "\\") {
                let octal = String(byte, radix: 8)
                out += "\\" + String(repeating: "0", count: 3 - octal.count) + octal
            } else {
                out.unicodeScalars.append(UnicodeScalar(byte))
            }
        }
        return out
    }
}
