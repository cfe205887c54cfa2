import ArcaCore
import ArcaCrypto

/// The canonical encoding of one entry (FORMAT.md §5 "Entry") and the rules every entry obeys.
enum EntryCodec {
    /// Appends the encoding of an entry that `validate` accepted.
    static func encode(_ entry: IndexEntry, to out: inout ByteWriter) {
        out.u16(UInt16(entry.path.utf8.count))
        out.raw(entry.path.utf8)
        out.u8(entry.type.rawValue)
        out.u8(entry.protection.rawValue)
        out.u32(entry.mode)
        out.u32(entry.uid)
        out.u32(entry.gid)
        out.i64(entry.mtime.seconds)
        out.u32(entry.mtime.nanoseconds)
        out.u64(entry.size)
        out.u32(entry.deviceMajor)
        out.u32(entry.deviceMinor)
        out.u16(UInt16(entry.linkTarget.utf8.count))
        out.raw(entry.linkTarget.utf8)
        out.u16(UInt16(entry.xattrs.count))
        for xattr in entry.xattrs {
            out.u8(UInt8(xattr.name.utf8.count))
            out.raw(xattr.name.utf8)
            out.u32(UInt32(xattr.value.count))
            out.raw(xattr.value)
        }
        if entry.type == .regular {
            switch entry.protection {
            case .authenticated: for digest in entry.chunkDigests { out.hash(digest) }
            case .encrypted:
                out.u32(entry.stream)
                out.u64(entry.streamOffset)
            }
        }
    }

    /// Reads one entry and checks every rule; errors name `reader.place` and the field.
    static func decode(from reader: inout ByteReader, layout: ChunkLayout) throws -> IndexEntry {
        let pathLength = Int(try reader.u16("path length"))
        guard pathLength <= ShieldFormat.maximumPathLength else {
            throw reader.fail("path length \(pathLength) is over the \(ShieldFormat.maximumPathLength)-byte limit")
        }
        let path = try reader.string(pathLength, "path")
        reader.place += " (\(path))"
        let typeByte = try reader.u8("type")
        guard let type = EntryType(rawValue: typeByte) else { throw reader.fail("unknown entry type \(typeByte)") }
        let classByte = try reader.u8("class")
        guard let protection = ProtectionClass(rawValue: classByte) else { throw reader.fail("unknown class \(classByte)") }
        var entry = IndexEntry(path: path, type: type, protection: protection)
        entry.mode = try reader.u32("mode")
        entry.uid = try reader.u32("uid")
        entry.gid = try reader.u32("gid")
        entry.mtime = Timestamp(seconds: try reader.i64("mtime seconds"), nanoseconds: try reader.u32("mtime nanoseconds"))
        entry.size = try reader.u64("size")
        entry.deviceMajor = try reader.u32("device major")
        entry.deviceMinor = try reader.u32("device minor")
        let targetLength = Int(try reader.u16("link target length"))
        guard targetLength <= ShieldFormat.maximumLinkTargetLength else {
            throw reader.fail("link target length \(targetLength) is over the \(ShieldFormat.maximumLinkTargetLength)-byte limit")
        }
        entry.linkTarget = try reader.string(targetLength, "link target")
        let xattrCount = Int(try reader.u16("xattr count"))
        guard xattrCount <= ShieldFormat.maximumXattrCount else {
            throw reader.fail("\(xattrCount) xattrs, over the \(ShieldFormat.maximumXattrCount) limit")
        }
        entry.xattrs.reserveCapacity(xattrCount)
        for _ in 0..<xattrCount {
            let nameLength = Int(try reader.u8("xattr name length"))
            let name = try reader.string(nameLength, "xattr name")
            let valueLength = try reader.u32("xattr value length")
            guard valueLength <= ShieldFormat.maximumXattrValueLength else {
                throw reader.fail("xattr \(name) value is \(valueLength) bytes, over the \(ShieldFormat.maximumXattrValueLength)-byte limit")
            }
            entry.xattrs.append(ExtendedAttribute(name: name, value: Array(try reader.raw(Int(valueLength), "xattr value"))))
        }
        if type == .regular {
            switch protection {
            case .authenticated:
                guard entry.size <= ShieldFormat.maximumFileSize else {
                    throw reader.fail("size \(entry.size) is over the \(formatBytes(ShieldFormat.maximumFileSize)) limit")
                }
                let count = Int(layout.chunkCount(size: entry.size))
                // Check the table fits before allocating it (a hostile size must not allocate).
                guard count <= reader.remaining / 32 else {
                    throw reader.fail("chunk table of \(count) digests is truncated (\(reader.remaining) bytes left)")
                }
                entry.chunkDigests.reserveCapacity(count)
                for _ in 0..<count { entry.chunkDigests.append(try reader.hash("chunk digest")) }
            case .encrypted:
                entry.stream = try reader.u32("stream number")
                entry.streamOffset = try reader.u64("stream offset")
            }
        }
        do {
            try validate(entry, layout: layout)
        } catch let error as ArcaError {
            throw reader.fail(error.message)
        }
        return entry
    }

    /// The rules of FORMAT.md §5 for one entry, independent of its neighbours.
    static func validate(_ entry: IndexEntry, layout: ChunkLayout) throws {
        try validatePath(entry.path, what: "path")
        func bad(_ message: String) -> ArcaError { ArcaError(.invalidFormat, "entry \(entry.path): \(message)") }
        guard entry.mode <= 0o7777 else { throw bad("mode \(String(entry.mode, radix: 8)) has bits above 0o7777") }
        guard entry.mtime.nanoseconds < 1_000_000_000 else { throw bad("mtime nanoseconds \(entry.mtime.nanoseconds) are not below 10^9") }
        if entry.type == .regular {
            guard entry.size <= ShieldFormat.maximumFileSize else {
                throw ArcaError(.limitExceeded, "entry \(entry.path): size \(formatBytes(entry.size)) is over the \(formatBytes(ShieldFormat.maximumFileSize)) limit")
            }
        } else if entry.size != 0 {
            throw bad("a \(entry.type) entry has size \(entry.size), expected 0")
        }
        let isDevice = entry.type == .characterDevice || entry.type == .blockDevice
        guard isDevice || (entry.deviceMajor == 0 && entry.deviceMinor == 0) else {
            throw bad("a \(entry.type) entry has device numbers \(entry.deviceMajor):\(entry.deviceMinor)")
        }
        let target = entry.linkTarget.utf8
        switch entry.type {
        case .symlink:
            guard !target.isEmpty, target.count <= ShieldFormat.maximumLinkTargetLength, !target.contains(0) else {
                throw bad("symlink target of \(target.count) bytes is empty, over \(ShieldFormat.maximumLinkTargetLength) bytes or holds NUL")
            }
        case .hardlink:
            try validatePath(entry.linkTarget, what: "hardlink target of \(entry.path)")
            guard entry.linkTarget != entry.path else { throw bad("hardlink names itself") }
        default:
            guard target.isEmpty else { throw bad("a \(entry.type) entry has a link target") }
        }
        guard entry.xattrs.count <= ShieldFormat.maximumXattrCount else {
            throw ArcaError(.limitExceeded, "entry \(entry.path): \(entry.xattrs.count) xattrs, over the \(ShieldFormat.maximumXattrCount) limit")
        }
        for (i, xattr) in entry.xattrs.enumerated() {
            let name = xattr.name.utf8
            guard !name.isEmpty, name.count <= ShieldFormat.maximumXattrNameLength, !name.contains(0) else {
                throw bad("xattr name of \(name.count) bytes is empty, over \(ShieldFormat.maximumXattrNameLength) bytes or holds NUL")
            }
            guard xattr.value.count <= ShieldFormat.maximumXattrValueLength else {
                throw ArcaError(.limitExceeded, "entry \(entry.path): xattr \(xattr.name) is \(xattr.value.count) bytes, over the \(ShieldFormat.maximumXattrValueLength)-byte limit")
            }
            if i > 0, !pathPrecedes(entry.xattrs[i - 1].name, xattr.name) {
                throw bad("xattr \(xattr.name) is out of order or repeated")
            }
        }
        let expectedDigests = entry.type == .regular && entry.protection == .authenticated ? Int(layout.chunkCount(size: entry.size)) : 0
        guard entry.chunkDigests.count == expectedDigests else {
            throw bad("\(entry.chunkDigests.count) chunk digests for \(entry.size) bytes, expected \(expectedDigests)")
        }
        guard entry.isEncryptedRegular || (entry.stream == 0 && entry.streamOffset == 0) else {
            throw bad("stream \(entry.stream) offset \(entry.streamOffset) on an entry without blob content")
        }
    }

    /// Absolute and normalized: `/`, or `/` followed by components that are not empty, `.` or `..`,
    /// hold no NUL, and are at most 255 bytes; at most 4096 bytes in all.
    static func validatePath(_ path: String, what: String) throws {
        let bytes = Array(path.utf8)
        guard bytes.count <= ShieldFormat.maximumPathLength else {
            throw ArcaError(.limitExceeded, "\(what) is \(bytes.count) bytes, over the \(ShieldFormat.maximumPathLength)-byte limit")
        }
        guard bytes.first == UInt8(ascii: "/") else { throw ArcaError(.unsafePath, "\(what) \"\(path)\" is not absolute") }
        if bytes.count == 1 { return }
        for component in bytes.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            guard !component.isEmpty, component.count <= ShieldFormat.maximumComponentLength, !component.contains(0),
                  !component.elementsEqual([UInt8(ascii: ".")]), !component.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) else {
                throw ArcaError(.unsafePath, "\(what) \"\(path)\" is not normalized (empty, '.', '..', NUL or over-long component)")
            }
        }
    }
}
