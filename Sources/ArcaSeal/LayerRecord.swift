import ArcaArchive
import ArcaCore
import ArcaCrypto
import ArcaOCI
import ArcaShield

/// A blob this seal puts into the destination, and the file that holds it.
struct LayerArtifact: Sendable, Equatable {
    var digest: Digest
    var size: Int64
    /// The uncompressed tar's digest (equal to `digest` for uncompressed layers).
    var diffID: Digest
}

/// What pass one learned about one layer of the native image, and what it made of it: the
/// unit the per-layer cache stores. Offsets are the data offsets of regular files in the
/// layer's uncompressed tar (a node's `.layer(index, offset, size)` content).
struct LayerRecord: Sendable {
    /// Every entry with its data offset, in stream order (to rebuild the merged tree).
    var entries: [(entry: TarEntry, dataOffset: Int64)] = []
    /// Chunk digests of the layer's authenticated regular files.
    var digests: [Int64: [Hash256]] = [:]
    /// Where each encrypted regular file's bytes start in this layer's stream.
    var streamOffsets: [Int64: UInt64] = [:]
    /// True when an entry or whiteout of the layer lies in an encrypted region: the layer is rewritten.
    var touchesEncrypted = false
    /// The layer's stream (its encrypted regular files in tar order), when it has encrypted bytes.
    var stream: StreamInfo?
    /// The blob layer: an uncompressed tar holding the stream's blob at `.arca/shield/blobs/<id>`.
    var blobLayer: LayerArtifact?
    /// The rewritten layer (gzip), when the rewrite happened in pass one.
    var rewritten: LayerArtifact?
}

/// The binary form of a `LayerRecord` in the cache (sealed there; see LayerCache).
enum LayerRecordCodec {
    static let magic = Array("ARCALREC".utf8)
    static let version: UInt16 = 1

    static func encode(_ record: LayerRecord) -> [UInt8] {
        var out = RecordWriter()
        out.raw(magic)
        out.u16(version)
        out.u64(UInt64(record.entries.count))
        for (entry, offset) in record.entries {
            out.string(entry.path)
            out.string(entry.type.rawValue)
            out.u32(entry.mode)
            out.i64(Int64(entry.uid))
            out.i64(Int64(entry.gid))
            out.string(entry.userName)
            out.string(entry.groupName)
            out.i64(entry.modificationTime.seconds)
            out.u32(UInt32(bitPattern: entry.modificationTime.nanoseconds))
            out.i64(entry.size)
            out.string(entry.linkTarget)
            out.u32(entry.deviceMajor)
            out.u32(entry.deviceMinor)
            out.u64(UInt64(entry.xattrs.count))
            for name in entry.xattrs.keys.sorted() {
                out.string(name)
                out.bytes(entry.xattrs[name] ?? [])
            }
            out.i64(offset)
        }
        out.u64(UInt64(record.digests.count))
        for offset in record.digests.keys.sorted() {
            let digests = record.digests[offset] ?? []
            out.i64(offset)
            out.u64(UInt64(digests.count))
            for digest in digests { out.raw(digest.bytes) }
        }
        out.u64(UInt64(record.streamOffsets.count))
        for offset in record.streamOffsets.keys.sorted() {
            out.i64(offset)
            out.u64(record.streamOffsets[offset] ?? 0)
        }
        out.u8(record.touchesEncrypted ? 1 : 0)
        out.u8(record.stream == nil ? 0 : 1)
        if let stream = record.stream {
            out.u64(stream.chunkCount)
            out.raw(stream.streamId.bytes)
            out.u64(stream.size)
        }
        for artifact in [record.blobLayer, record.rewritten] {
            out.u8(artifact == nil ? 0 : 1)
            if let artifact {
                out.string(artifact.digest.description)
                out.i64(artifact.size)
                out.string(artifact.diffID.description)
            }
        }
        return out.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> LayerRecord {
        var reader = RecordReader(bytes)
        guard try reader.raw(8) == magic, try reader.u16() == version else {
            throw ArcaError(.invalidFormat, "cache record: not a version \(version) layer record")
        }
        var record = LayerRecord()
        let entryCount = try reader.count(minimumBytes: 60)
        record.entries.reserveCapacity(entryCount)
        for _ in 0..<entryCount {
            let path = try reader.string()
            guard let type = TarEntry.EntryType(rawValue: try reader.string()) else {
                throw ArcaError(.invalidFormat, "cache record: unknown entry type")
            }
            var entry = TarEntry(path: path, type: type, mode: try reader.u32())
            entry.uid = Int(try reader.i64())
            entry.gid = Int(try reader.i64())
            entry.userName = try reader.string()
            entry.groupName = try reader.string()
            entry.modificationTime = TarTime(seconds: try reader.i64(), nanoseconds: Int32(bitPattern: try reader.u32()))
            entry.size = try reader.i64()
            entry.linkTarget = try reader.string()
            entry.deviceMajor = try reader.u32()
            entry.deviceMinor = try reader.u32()
            let xattrCount = try reader.count(minimumBytes: 8)
            for _ in 0..<xattrCount {
                let name = try reader.string()
                entry.xattrs[name] = try reader.bytes()
            }
            record.entries.append((entry, try reader.i64()))
        }
        for _ in 0..<(try reader.count(minimumBytes: 16)) {
            let offset = try reader.i64()
            let count = try reader.count(minimumBytes: 32)
            var digests: [Hash256] = []
            digests.reserveCapacity(count)
            for _ in 0..<count {
                guard let digest = Hash256(try reader.raw(32)) else { throw ArcaError(.invalidFormat, "cache record: bad digest") }
                digests.append(digest)
            }
            record.digests[offset] = digests
        }
        for _ in 0..<(try reader.count(minimumBytes: 16)) {
            let offset = try reader.i64()
            record.streamOffsets[offset] = try reader.u64()
        }
        record.touchesEncrypted = try reader.u8() == 1
        if try reader.u8() == 1 {
            let chunkCount = try reader.u64()
            guard let id = Hash256(try reader.raw(32)) else { throw ArcaError(.invalidFormat, "cache record: bad stream id") }
            record.stream = StreamInfo(chunkCount: chunkCount, streamId: id, size: try reader.u64())
        }
        var artifacts: [LayerArtifact?] = []
        for _ in 0..<2 {
            guard try reader.u8() == 1 else {
                artifacts.append(nil)
                continue
            }
            let digest = try Digest(parsing: try reader.string())
            let size = try reader.i64()
            let diffID = try Digest(parsing: try reader.string())
            artifacts.append(LayerArtifact(digest: digest, size: size, diffID: diffID))
        }
        record.blobLayer = artifacts[0]
        record.rewritten = artifacts[1]
        guard reader.atEnd else { throw ArcaError(.invalidFormat, "cache record: trailing bytes") }
        return record
    }
}

/// Big-endian, length-prefixed fields.
struct RecordWriter {
    var bytes: [UInt8] = []
    mutating func raw(_ v: [UInt8]) { bytes += v }
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { bytes.appendBigEndian(v) }
    mutating func u32(_ v: UInt32) { bytes.appendBigEndian(v) }
    mutating func u64(_ v: UInt64) { bytes.appendBigEndian(v) }
    mutating func i64(_ v: Int64) { bytes.appendBigEndian(v) }
    mutating func bytes(_ v: [UInt8]) {
        u32(UInt32(v.count))
        bytes += v
    }
    mutating func string(_ v: String) { bytes(Array(v.utf8)) }
}

/// Reads what `RecordWriter` wrote; every length is checked against the bytes left.
struct RecordReader {
    let data: [UInt8]
    var offset = 0
    init(_ data: [UInt8]) { self.data = data }

    var atEnd: Bool { offset == data.count }

    mutating func raw(_ count: Int) throws -> [UInt8] {
        guard count >= 0, count <= data.count - offset else { throw ArcaError(.invalidFormat, "cache record is truncated") }
        defer { offset += count }
        return Array(data[offset..<(offset + count)])
    }

    private mutating func integer<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let bytes = try raw(MemoryLayout<T>.size)
        return bytes.reduce(T(0)) { ($0 << 8) | T($1) }
    }

    mutating func u8() throws -> UInt8 { try integer(UInt8.self) }
    mutating func u16() throws -> UInt16 { try integer(UInt16.self) }
    mutating func u32() throws -> UInt32 { try integer(UInt32.self) }
    mutating func u64() throws -> UInt64 { try integer(UInt64.self) }
    mutating func i64() throws -> Int64 { Int64(bitPattern: try integer(UInt64.self)) }
    mutating func bytes() throws -> [UInt8] { try raw(Int(try u32())) }
    mutating func string() throws -> String { String(decoding: try bytes(), as: UTF8.self) }

    /// A count of items of at least `minimumBytes` each, refused when the rest cannot hold them.
    mutating func count(minimumBytes: Int) throws -> Int {
        let n = try u64()
        guard n <= UInt64((data.count - offset) / minimumBytes) else { throw ArcaError(.invalidFormat, "cache record: count \(n) is too large") }
        return Int(n)
    }
}
