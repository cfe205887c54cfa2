import ArcaCore

/// A streaming tar reader: ustar, pax (`x` and `g`), GNU long names (`L`/`K`), GNU base-256
/// numbers, old-GNU and v7 headers. It never holds more than one header set and a read buffer
/// in memory, and every length it reads is bounded by `ArchiveLimits`.
///
/// ```swift
/// let reader = TarReader(source)
/// while let entry = try reader.next() {
///     if entry.type == .regular { try reader.contentSource().copy(to: sink) }
/// }
/// ```
public final class TarReader {
    public let limits: ArchiveLimits
    private let input: BufferedInput
    /// Offset of the current entry's data in the (uncompressed) tar stream.
    public private(set) var dataOffset: Int64 = 0
    /// Entries returned so far.
    public private(set) var entryCount = 0
    private var current: TarEntry?
    private var remaining: Int64 = 0
    private var padding: Int64 = 0
    private var globals: [String: [UInt8]] = [:]
    private var ended = false
    private var generation = 0

    public init(_ source: any ByteSource, limits: ArchiveLimits = .default) {
        self.limits = limits
        self.input = BufferedInput(source)
    }

    /// Bytes of the tar stream consumed so far.
    public var offset: Int64 { input.offset }

    /// The next entry, or `nil` at the end of the archive (two zero blocks, or a clean end of
    /// the stream at a block boundary). Unread data of the previous entry is skipped.
    public func next() throws -> TarEntry? {
        guard !ended else { return nil }
        try skip(remaining + padding, what: "data of tar entry \(currentName)")
        remaining = 0
        padding = 0
        current = nil

        var pax: [String: [UInt8]] = [:]
        var longName: [UInt8]?
        var longLink: [UInt8]?
        var extendedBytes = 0
        while true {
            let headerOffset = input.offset
            guard let block = try readBlock(what: "tar header at offset \(headerOffset)") else {
                guard pax.isEmpty, longName == nil, longLink == nil else {
                    throw ArcaError(.invalidFormat, "tar stream ends after an extended header at offset \(headerOffset)")
                }
                ended = true
                return nil
            }
            if TarHeader.isZero(block) {
                if let second = try readBlock(what: "end-of-archive block at offset \(input.offset)"), !TarHeader.isZero(second) {
                    throw ArcaError(.invalidFormat, "tar stream has a lone zero block at offset \(headerOffset)")
                }
                guard pax.isEmpty, longName == nil, longLink == nil else {
                    throw ArcaError(.invalidFormat, "tar stream ends after an extended header at offset \(headerOffset)")
                }
                ended = true
                return nil
            }
            guard try TarHeader.checksumMatches(block, offset: headerOffset) else {
                throw ArcaError(.integrity, "tar header at offset \(headerOffset) has a checksum mismatch")
            }
            let rawName = TarHeader.text(block, TarHeader.Field.name)
            let label = EntryLabel(name: rawName, offset: headerOffset)
            let typeflag = block[TarHeader.Field.typeflag]
            let size = try TarHeader.number(block, TarHeader.Field.size, field: "size", entry: label)
            guard size >= 0 else {
                throw ArcaError(.invalidFormat, "size field of tar entry \(label) is negative (\(size))")
            }
            switch typeflag {
            case UInt8(ascii: "x"), UInt8(ascii: "g"), UInt8(ascii: "L"), UInt8(ascii: "K"):
                extendedBytes += Int(min(size, Int64(Int.max / 2)))
                guard extendedBytes <= limits.maxHeaderSize else {
                    throw ArcaError(.limitExceeded,
                                    "extended headers before the tar entry at offset \(headerOffset) are \(extendedBytes) bytes, over the \(formatBytes(limits.maxHeaderSize)) maxHeaderSize limit")
                }
                let data = try readMeta(Int(size), what: "extended header \(label)")
                switch typeflag {
                case UInt8(ascii: "x"):
                    for record in try PaxRecords.parse(data, entry: label) { pax[record.key] = record.value }
                case UInt8(ascii: "g"):
                    for record in try PaxRecords.parse(data, entry: label) {
                        globals[record.key] = record.value.isEmpty && !Self.isXattrKey(record.key) ? nil : record.value
                    }
                    // Global records live for the rest of the stream: bound what they can hold.
                    let held = globals.reduce(0) { $0 + $1.key.utf8.count + $1.value.count }
                    guard held <= limits.maxHeaderSize else {
                        throw ArcaError(.limitExceeded,
                                        "global pax headers up to offset \(headerOffset) hold \(held) bytes, over the \(formatBytes(limits.maxHeaderSize)) maxHeaderSize limit")
                    }
                case UInt8(ascii: "L"):
                    longName = Array(data.prefix { $0 != 0 })
                default:
                    longLink = Array(data.prefix { $0 != 0 })
                }
            default:
                var attributes = globals
                // An empty value removes the keyword (falls back to the header field), except
                // for xattrs, where an empty value is a real, empty attribute.
                for (key, value) in pax { attributes[key] = value.isEmpty && !Self.isXattrKey(key) ? nil : value }
                let entry = try makeEntry(block, size: size, attributes: attributes, longName: longName,
                                          longLink: longLink, label: label)
                entryCount += 1
                guard entryCount <= limits.maxEntries else {
                    throw ArcaError(.limitExceeded, "tar stream has more than \(limits.maxEntries) entries, the maxEntries limit")
                }
                current = entry
                remaining = entry.size
                padding = (512 - entry.size % 512) % 512
                dataOffset = input.offset
                generation += 1
                return entry
            }
        }
    }

    /// A source over the current entry's data only; it reads nothing once `next()` moved on.
    public func contentSource() -> any ByteSource {
        EntryContentSource(reader: self, generation: generation)
    }

    /// Reads the rest of the underlying stream after the end of the archive (record padding),
    /// so that a hashing or decompressing source below sees and checks all of it.
    @discardableResult
    public func drain() throws -> Int64 {
        var total: Int64 = 0
        while true {
            let skipped = try input.discard(Int64(streamChunkSize))
            if skipped == 0 { return total }
            total += skipped
            try checkLayerSize()
        }
    }

    fileprivate func readData(into buffer: UnsafeMutableRawBufferPointer, generation: Int) throws -> Int {
        guard generation == self.generation, remaining > 0, buffer.count > 0 else { return 0 }
        let want = Int(min(Int64(buffer.count), remaining))
        let got = try input.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]))
        guard got > 0 else {
            throw ArcaError(.invalidFormat, "data of tar entry \(currentName) is truncated: \(remaining) bytes missing")
        }
        remaining -= Int64(got)
        try checkLayerSize()
        return got
    }

    // MARK: private

    private static func isXattrKey(_ key: String) -> Bool {
        key.hasPrefix("SCHILY.xattr.") || key.hasPrefix("LIBARCHIVE.xattr.")
    }

    private var currentName: String { current.map { ArchivePath.quoted($0.path) } ?? "(none)" }

    private func checkLayerSize() throws {
        guard input.offset <= limits.maxLayerSize else {
            throw ArcaError(.limitExceeded, "tar stream is over the \(formatBytes(limits.maxLayerSize)) maxLayerSize limit")
        }
    }

    /// One 512-byte block; nil at a clean end of the stream; an error for a partial block.
    private func readBlock(what: String) throws -> [UInt8]? {
        var block = [UInt8](repeating: 0, count: TarHeader.blockSize)
        var got = 0
        try block.withUnsafeMutableBytes { buffer in
            while got < buffer.count {
                let n = try input.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[got...]))
                if n == 0 { break }
                got += n
            }
        }
        if got == 0 { return nil }
        guard got == TarHeader.blockSize else {
            throw ArcaError(.invalidFormat, "\(what) is truncated: \(got) of 512 bytes")
        }
        try checkLayerSize()
        return block
    }

    private func readMeta(_ size: Int, what: String) throws -> [UInt8] {
        var data = [UInt8](repeating: 0, count: size)
        let got = try data.withUnsafeMutableBytes { buffer in
            var filled = 0
            while filled < buffer.count {
                let n = try input.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
                if n == 0 { break }
                filled += n
            }
            return filled
        }
        guard got == size else { throw ArcaError(.invalidFormat, "\(what) is truncated: \(got) of \(size) bytes") }
        try skip(Int64((512 - size % 512) % 512), what: what)
        return data
    }

    private func skip(_ count: Int64, what: String) throws {
        guard count > 0 else { return }
        let skipped = try input.discard(count)
        guard skipped == count else {
            throw ArcaError(.invalidFormat, "\(what) is truncated: \(count - skipped) bytes missing")
        }
        try checkLayerSize()
    }

    private func makeEntry(_ block: [UInt8], size headerSize: Int64, attributes: [String: [UInt8]],
                           longName: [UInt8]?, longLink: [UInt8]?, label: EntryLabel) throws -> TarEntry {
        let format = TarHeader.format(of: block)
        var nameBytes = TarHeader.text(block, TarHeader.Field.name)
        if format == .ustar {
            let prefix = TarHeader.text(block, TarHeader.Field.prefix)
            if !prefix.isEmpty { nameBytes = prefix + [UInt8(ascii: "/")] + nameBytes }
        }
        if let longName { nameBytes = longName }
        if let path = attributes["path"] { nameBytes = path }
        let label = EntryLabel(name: nameBytes, offset: label.offset)
        let rawName = try utf8(nameBytes, what: "name of tar entry \(label)")

        let typeflag = block[TarHeader.Field.typeflag]
        let type: TarEntry.EntryType
        switch typeflag {
        case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
            type = format == .v7 && rawName.hasSuffix("/") ? .directory : .regular
        case UInt8(ascii: "1"): type = .hardlink
        case UInt8(ascii: "2"): type = .symlink
        case UInt8(ascii: "3"): type = .characterDevice
        case UInt8(ascii: "4"): type = .blockDevice
        case UInt8(ascii: "5"): type = .directory
        case UInt8(ascii: "6"): type = .fifo
        default:
            let shown = (32..<127).contains(typeflag) ? "'\(Character(UnicodeScalar(typeflag)))'" : "0x\(Hex.encode([typeflag]))"
            throw ArcaError(.unsupported, "tar entry \(label) has type \(shown), which Arca does not support")
        }
        if attributes.keys.contains(where: { $0.hasPrefix("GNU.sparse.") }) {
            throw ArcaError(.unsupported, "tar entry \(label) is a GNU sparse file, which Arca does not support")
        }
        let path = try ArchivePath.normalize(rawName, limits: limits)

        var size = headerSize
        if let value = attributes["size"] { size = try PaxRecords.decimal(value, key: "size", entry: label) }
        if type != .regular {
            guard size == 0 else {
                throw ArcaError(.invalidFormat, "tar entry \(label) of type \(type.rawValue) has a size of \(size); only regular files carry data")
            }
        }
        guard size <= limits.maxLayerSize else {
            throw ArcaError(.limitExceeded, "tar entry \(label) is \(formatBytes(size)), over the \(formatBytes(limits.maxLayerSize)) maxLayerSize limit")
        }

        var linkBytes = TarHeader.text(block, TarHeader.Field.linkname)
        if let longLink { linkBytes = longLink }
        if let linkpath = attributes["linkpath"] { linkBytes = linkpath }
        var linkTarget = ""
        if type == .hardlink || type == .symlink {
            let raw = try utf8(linkBytes, what: "link target of tar entry \(label)")
            guard !raw.isEmpty else { throw ArcaError(.invalidFormat, "link tar entry \(label) has an empty target") }
            guard !raw.utf8.contains(0) else {
                throw ArcaError(.unsafePath, "link target of tar entry \(label) contains a NUL byte")
            }
            guard raw.utf8.count <= limits.maxPathLength else {
                throw ArcaError(.limitExceeded, "link target of tar entry \(label) is \(raw.utf8.count) bytes, over the \(limits.maxPathLength)-byte maxPathLength limit")
            }
            linkTarget = type == .hardlink ? try ArchivePath.normalize(raw, limits: limits) : raw
        }

        let mode = try TarHeader.number(block, TarHeader.Field.mode, field: "mode", entry: label)
        var uid = try TarHeader.number(block, TarHeader.Field.uid, field: "uid", entry: label)
        var gid = try TarHeader.number(block, TarHeader.Field.gid, field: "gid", entry: label)
        if let value = attributes["uid"] { uid = try PaxRecords.decimal(value, key: "uid", entry: label) }
        if let value = attributes["gid"] { gid = try PaxRecords.decimal(value, key: "gid", entry: label) }
        for (field, id) in [("uid", uid), ("gid", gid)] where !(0...0xFFFF_FFFE).contains(id) {
            throw ArcaError(.invalidFormat, "\(field) of tar entry \(label) is \(id), outside 0…4294967294")
        }
        var mtime = TarTime(seconds: try TarHeader.number(block, TarHeader.Field.mtime, field: "mtime", entry: label))
        if let value = attributes["mtime"] { mtime = try PaxRecords.time(value, key: "mtime", entry: label) }

        var userName = String(decoding: TarHeader.text(block, TarHeader.Field.uname), as: UTF8.self)
        var groupName = String(decoding: TarHeader.text(block, TarHeader.Field.gname), as: UTF8.self)
        if format == .v7 {
            userName = ""
            groupName = ""
        }
        if let value = attributes["uname"] { userName = String(decoding: value, as: UTF8.self) }
        if let value = attributes["gname"] { groupName = String(decoding: value, as: UTF8.self) }

        var major: UInt32 = 0
        var minor: UInt32 = 0
        if type.isDevice {
            let rawMajor = try TarHeader.number(block, TarHeader.Field.devmajor, field: "devmajor", entry: label)
            let rawMinor = try TarHeader.number(block, TarHeader.Field.devminor, field: "devminor", entry: label)
            guard let m = UInt32(exactly: rawMajor), let n = UInt32(exactly: rawMinor) else {
                throw ArcaError(.invalidFormat, "device numbers \(rawMajor):\(rawMinor) of tar entry \(label) are out of range")
            }
            major = m
            minor = n
        }

        let xattrs = try extendedAttributes(attributes, label: label)
        return TarEntry(path: path, type: type, mode: UInt32(mode & 0o7777), uid: Int(uid), gid: Int(gid),
                        userName: userName, groupName: groupName, modificationTime: mtime, size: size,
                        linkTarget: linkTarget, deviceMajor: major, deviceMinor: minor, xattrs: xattrs)
    }

    private func extendedAttributes(_ attributes: [String: [UInt8]], label: EntryLabel) throws -> [String: [UInt8]] {
        var xattrs: [String: [UInt8]] = [:]
        var total = 0
        for (key, value) in attributes {
            let name: String
            var bytes = value
            if key.hasPrefix("SCHILY.xattr.") {
                name = String(key.dropFirst("SCHILY.xattr.".count))
            } else if key.hasPrefix("LIBARCHIVE.xattr.") {
                guard let decoded = PaxRecords.percentDecode(String(key.dropFirst("LIBARCHIVE.xattr.".count))),
                      let data = Base64.decode(value) else {
                    throw ArcaError(.invalidFormat, "pax record \(ArchivePath.quoted(key)) of tar entry \(label) is not valid")
                }
                name = decoded
                bytes = data
            } else {
                continue
            }
            guard !name.isEmpty, !name.utf8.contains(0) else {
                throw ArcaError(.invalidFormat, "tar entry \(label) has an xattr with an empty or NUL-containing name")
            }
            total += name.utf8.count + bytes.count
            guard total <= limits.maxXattrSize else {
                throw ArcaError(.limitExceeded, "xattrs of tar entry \(label) are over the \(formatBytes(limits.maxXattrSize)) maxXattrSize limit")
            }
            xattrs[name] = bytes
        }
        return xattrs
    }

    private func utf8(_ bytes: [UInt8], what: String) throws -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ArcaError(.invalidFormat, "\(what) is not valid UTF-8")
        }
        return text
    }
}

/// The data of one tar entry, valid until the reader moves on.
private final class EntryContentSource: ByteSource {
    private let reader: TarReader
    private let generation: Int

    init(reader: TarReader, generation: Int) {
        self.reader = reader
        self.generation = generation
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try reader.readData(into: buffer, generation: generation)
    }
}

/// A read buffer over a source that counts the bytes it hands out (the tar stream offset).
/// Small header reads come from the buffer; large data reads go straight to the source.
final class BufferedInput {
    private let source: any ByteSource
    private let storage: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private(set) var offset: Int64 = 0

    init(_ source: any ByteSource, capacity: Int = 64 * 1024) {
        self.source = source
        self.storage = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        if start == end {
            if buffer.count >= storage.count {
                let n = try source.read(into: buffer)
                offset += Int64(n)
                return n
            }
            start = 0
            end = try source.read(into: storage)
            if end == 0 { return 0 }
        }
        let n = min(buffer.count, end - start)
        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[start..<(start + n)]))
        start += n
        offset += Int64(n)
        return n
    }

    /// Skips up to `count` bytes; returns how many were skipped (fewer only at the end).
    func discard(_ count: Int64) throws -> Int64 {
        var left = count
        while left > 0 {
            if start == end {
                start = 0
                end = try source.read(into: storage)
                if end == 0 { break }
            }
            let n = Int(min(left, Int64(end - start)))
            start += n
            offset += Int64(n)
            left -= Int64(n)
        }
        return count - left
    }
}
