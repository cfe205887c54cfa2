import ArcaCore

/// Options of `TarWriter`.
public struct TarWriterOptions: Sendable, Equatable {
    /// For `SOURCE_DATE_EPOCH`: modification times after this second become this second.
    public var clampModificationTime: Int64?

    public init(clampModificationTime: Int64? = nil) {
        self.clampModificationTime = clampModificationTime
    }
}

/// A deterministic tar writer: ustar headers, with a pax `x` header only for what ustar cannot
/// hold (long or non-ASCII names and links, sizes of 8 GiB and more, large ids, negative or
/// sub-second times, xattrs), its records in sorted key order. Same entries in, same bytes out.
public final class TarWriter {
    private let sink: any ByteSink
    public let options: TarWriterOptions
    /// Bytes written so far.
    public private(set) var offset: Int64 = 0
    /// Offset of the data of the last appended entry in the tar stream.
    public private(set) var lastDataOffset: Int64 = 0
    private var finished = false

    public init(sink: any ByteSink, options: TarWriterOptions = TarWriterOptions()) {
        self.sink = sink
        self.options = options
    }

    /// Appends one entry. A regular file's `content` must supply exactly `entry.size` bytes;
    /// other types take no content (`nil`). `entry.path` and a hardlink's target are normalized.
    public func append(_ entry: TarEntry, content: (any ByteSource)?) throws {
        guard !finished else { throw ArcaError(.invalidArgument, "tar writer is finished; cannot append \(entry.path)") }
        var entry = entry
        entry.path = try ArchivePath.normalize(entry.path)
        if entry.path == ArchivePath.root, entry.type != .directory {
            throw ArcaError(.invalidArgument, "the root entry \"./\" must be a directory, not a \(entry.type.rawValue)")
        }
        if entry.type == .hardlink { entry.linkTarget = try ArchivePath.normalize(entry.linkTarget) }
        if let clamp = options.clampModificationTime, entry.modificationTime > TarTime(seconds: clamp) {
            entry.modificationTime = TarTime(seconds: clamp)
        }
        if entry.type != .regular, entry.size != 0 {
            throw ArcaError(.invalidArgument, "tar entry \(ArchivePath.quoted(entry.path)) of type \(entry.type.rawValue) has size \(entry.size); only regular files carry data")
        }
        guard entry.size >= 0 else {
            throw ArcaError(.invalidArgument, "tar entry \(ArchivePath.quoted(entry.path)) has a negative size \(entry.size)")
        }
        let (header, records) = try TarHeaderEncoder.encode(entry)
        if !records.isEmpty {
            let data = PaxRecords.encode(records)
            let paxHeader = try TarHeaderEncoder.paxHeader(for: entry, size: Int64(data.count))
            try emit(paxHeader)
            try emit(data)
            try pad(Int64(data.count))
        }
        try emit(header)
        lastDataOffset = offset
        if entry.type == .regular {
            try copyContent(content, of: entry)
            try pad(entry.size)
        } else if let content {
            var probe = [UInt8](repeating: 0, count: 1)
            let extra = try probe.withUnsafeMutableBytes { try content.read(into: $0) }
            guard extra == 0 else {
                throw ArcaError(.invalidArgument, "tar entry \(ArchivePath.quoted(entry.path)) of type \(entry.type.rawValue) was given content")
            }
        }
    }

    /// Writes the end-of-archive marker (two zero blocks) and finishes the sink.
    public func finish() throws {
        guard !finished else { return }
        finished = true
        try emit([UInt8](repeating: 0, count: 2 * TarHeader.blockSize))
        try sink.finish()
    }

    private func copyContent(_ content: (any ByteSource)?, of entry: TarEntry) throws {
        let name = ArchivePath.quoted(entry.path)
        guard let content else {
            guard entry.size == 0 else {
                throw ArcaError(.invalidArgument, "tar entry \(name) has size \(entry.size) but no content")
            }
            return
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: streamChunkSize, alignment: 16)
        defer { buffer.deallocate() }
        var left = entry.size
        while left > 0 {
            let want = Int(min(left, Int64(buffer.count)))
            let n = try content.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]))
            guard n > 0 else {
                throw ArcaError(.integrity, "content of tar entry \(name) ended \(left) bytes short of its size \(entry.size)")
            }
            try sink.write(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
            offset += Int64(n)
            left -= Int64(n)
        }
        let extra = try content.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<1]))
        guard extra == 0 else {
            throw ArcaError(.integrity, "content of tar entry \(name) is longer than its size \(entry.size)")
        }
    }

    private func emit(_ bytes: [UInt8]) throws {
        try sink.write(bytes)
        offset += Int64(bytes.count)
    }

    private func pad(_ size: Int64) throws {
        let count = Int((512 - size % 512) % 512)
        if count > 0 { try emit([UInt8](repeating: 0, count: count)) }
    }
}

/// Builds the ustar header block and the pax records an entry needs.
enum TarHeaderEncoder {
    typealias Field = TarHeader.Field

    static func encode(_ entry: TarEntry) throws -> (header: [UInt8], records: [PaxRecords.Record]) {
        var block = [UInt8](repeating: 0, count: TarHeader.blockSize)
        var records: [String: [UInt8]] = [:]

        let name = entry.path == ArchivePath.root ? "./" : (entry.type == .directory ? entry.path + "/" : entry.path)
        if !placeName(Array(name.utf8), in: &block) {
            records["path"] = Array(name.utf8)
            _ = TarHeader.putText(&block, Field.name, truncated(Array(name.utf8), to: 100))
        }
        if entry.type == .symlink || entry.type == .hardlink {
            let link = Array(entry.linkTarget.utf8)
            if link.count > 100 || !isASCII(link) {
                records["linkpath"] = link
                _ = TarHeader.putText(&block, Field.linkname, truncated(link, to: 100))
            } else {
                _ = TarHeader.putText(&block, Field.linkname, link)
            }
        }
        _ = TarHeader.putOctal(&block, Field.mode, Int64(entry.mode & 0o7777))
        for (key, range, value) in [("uid", Field.uid, Int64(entry.uid)), ("gid", Field.gid, Int64(entry.gid))] {
            guard value >= 0 else {
                throw ArcaError(.invalidArgument, "\(key) of tar entry \(ArchivePath.quoted(entry.path)) is negative (\(value))")
            }
            if !TarHeader.putOctal(&block, range, value) {
                records[key] = Array(String(value).utf8)
                _ = TarHeader.putOctal(&block, range, 0)
            }
        }
        if !TarHeader.putOctal(&block, Field.size, entry.size) {
            records["size"] = Array(String(entry.size).utf8)
            _ = TarHeader.putOctal(&block, Field.size, 0)
        }
        let time = entry.modificationTime
        guard (0..<1_000_000_000).contains(time.nanoseconds) else {
            throw ArcaError(.invalidArgument, "tar entry \(ArchivePath.quoted(entry.path)) has \(time.nanoseconds) nanoseconds, outside 0…999999999")
        }
        if time.nanoseconds != 0 || !TarHeader.putOctal(&block, Field.mtime, time.seconds) {
            records["mtime"] = Array(PaxRecords.format(time).utf8)
            _ = TarHeader.putOctal(&block, Field.mtime, max(0, min(time.seconds, TarHeader.octalLimit(Field.mtime))))
        }
        block[Field.typeflag] = typeflag(entry.type)
        _ = TarHeader.putText(&block, Field.magic, TarHeader.ustarMagic)
        _ = TarHeader.putText(&block, Field.version, Array("00".utf8))
        for (key, range, text) in [("uname", Field.uname, entry.userName), ("gname", Field.gname, entry.groupName)] {
            let bytes = Array(text.utf8)
            if bytes.count > 32 || !isASCII(bytes) {
                records[key] = bytes
            } else {
                _ = TarHeader.putText(&block, range, bytes)
            }
        }
        if entry.type.isDevice {
            guard TarHeader.putOctal(&block, Field.devmajor, Int64(entry.deviceMajor)),
                  TarHeader.putOctal(&block, Field.devminor, Int64(entry.deviceMinor)) else {
                throw ArcaError(.invalidArgument, "device numbers \(entry.deviceMajor):\(entry.deviceMinor) of tar entry \(ArchivePath.quoted(entry.path)) are over the ustar limit 2097151")
            }
        } else {
            _ = TarHeader.putOctal(&block, Field.devmajor, 0)
            _ = TarHeader.putOctal(&block, Field.devminor, 0)
        }
        for (name, value) in entry.xattrs {
            guard !name.isEmpty, !name.utf8.contains(0), !name.contains("=") else {
                throw ArcaError(.invalidArgument, "tar entry \(ArchivePath.quoted(entry.path)) has an invalid xattr name \(ArchivePath.quoted(name))")
            }
            records["SCHILY.xattr." + name] = value
        }
        TarHeader.seal(&block)
        let sorted = records.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        return (block, sorted.map { PaxRecords.Record(key: $0, value: records[$0] ?? []) })
    }

    /// The `x` header announcing `size` bytes of records for `entry` (fixed fields, so deterministic).
    static func paxHeader(for entry: TarEntry, size: Int64) throws -> [UInt8] {
        var block = [UInt8](repeating: 0, count: TarHeader.blockSize)
        let base = Array(ArchivePath.baseName(entry.path).utf8.filter { $0 >= 0x20 && $0 < 0x7f })
        _ = TarHeader.putText(&block, Field.name, truncated(Array("PaxHeaders.0/".utf8) + base, to: 99))
        _ = TarHeader.putOctal(&block, Field.mode, 0o644)
        _ = TarHeader.putOctal(&block, Field.uid, 0)
        _ = TarHeader.putOctal(&block, Field.gid, 0)
        guard TarHeader.putOctal(&block, Field.size, size) else {
            throw ArcaError(.limitExceeded, "pax header of tar entry \(ArchivePath.quoted(entry.path)) is \(size) bytes, too large")
        }
        _ = TarHeader.putOctal(&block, Field.mtime, 0)
        block[Field.typeflag] = UInt8(ascii: "x")
        _ = TarHeader.putText(&block, Field.magic, TarHeader.ustarMagic)
        _ = TarHeader.putText(&block, Field.version, Array("00".utf8))
        _ = TarHeader.putOctal(&block, Field.devmajor, 0)
        _ = TarHeader.putOctal(&block, Field.devminor, 0)
        TarHeader.seal(&block)
        return block
    }

    /// Puts an ASCII name into name (≤ 100 bytes) or prefix/name split at a slash; false if impossible.
    private static func placeName(_ name: [UInt8], in block: inout [UInt8]) -> Bool {
        guard isASCII(name) else { return false }
        if name.count <= 100 { return TarHeader.putText(&block, Field.name, name) }
        guard name.count <= 256 else { return false }
        for split in stride(from: min(155, name.count - 1), through: 1, by: -1) where name[split] == UInt8(ascii: "/") {
            let prefix = name[..<split]
            let rest = name[(split + 1)...]
            if rest.count <= 100, !rest.isEmpty {
                return TarHeader.putText(&block, Field.prefix, prefix) && TarHeader.putText(&block, Field.name, rest)
            }
            return false
        }
        return false
    }

    private static func isASCII(_ bytes: [UInt8]) -> Bool { bytes.allSatisfy { $0 > 0 && $0 < 0x80 } }

    private static func truncated(_ bytes: [UInt8], to count: Int) -> ArraySlice<UInt8> { bytes.prefix(count) }

    private static func typeflag(_ type: TarEntry.EntryType) -> UInt8 {
        switch type {
        case .regular: UInt8(ascii: "0")
        case .hardlink: UInt8(ascii: "1")
        case .symlink: UInt8(ascii: "2")
        case .characterDevice: UInt8(ascii: "3")
        case .blockDevice: UInt8(ascii: "4")
        case .directory: UInt8(ascii: "5")
        case .fifo: UInt8(ascii: "6")
        }
    }
}
