import ArcaCore
import ArcaCrypto

/// One stream (blob) as the index names it: public chunk count and identity, and the exact
/// plaintext size, which is only known once the encrypted section is open (0 while locked).
public struct StreamInfo: Hashable, Sendable {
    public let chunkCount: UInt64
    public let streamId: Hash256
    /// Exact plaintext bytes of the stream; 0 in a locked index.
    public let size: UInt64

    public init(chunkCount: UInt64, streamId: Hash256, size: UInt64) {
        self.chunkCount = chunkCount
        self.streamId = streamId
        self.size = size
    }
}

/// The fixed 40-byte index header and the stream table after it (FORMAT.md §5).
struct IndexHeader: Equatable {
    var layout: ChunkLayout
    var publicLength: UInt64
    var encryptedLength: UInt64
    /// `(chunkCount, streamId)` per stream, in table order.
    var streams: [(chunkCount: UInt64, streamId: Hash256)]

    static func == (a: IndexHeader, b: IndexHeader) -> Bool {
        a.layout == b.layout && a.publicLength == b.publicLength && a.encryptedLength == b.encryptedLength
            && a.streams.elementsEqual(b.streams) { $0.chunkCount == $1.chunkCount && $0.streamId == $1.streamId }
    }

    /// Bytes of header plus stream table.
    var encodedSize: Int { ShieldFormat.indexHeaderSize + streams.count * ShieldFormat.streamRowSize }

    func encode() -> [UInt8] {
        var out = ByteWriter()
        out.raw(ShieldFormat.indexMagic)
        out.u16(ShieldFormat.version)
        out.u16(0)
        out.u32(UInt32(layout.chunkSize))
        out.u64(publicLength)
        out.u64(encryptedLength)
        out.u32(UInt32(streams.count))
        out.u32(0)
        for stream in streams {
            out.u64(stream.chunkCount)
            out.hash(stream.streamId)
        }
        return out.bytes
    }

    /// Decodes the header and stream table from the start of `bytes` (the whole index).
    static func decode(_ bytes: [UInt8]) throws -> IndexHeader {
        guard bytes.count >= ShieldFormat.indexHeaderSize else {
            throw ArcaError(.invalidFormat, "index header is truncated: \(bytes.count) of \(ShieldFormat.indexHeaderSize) bytes")
        }
        var reader = ByteReader(bytes, place: "index header")
        guard try reader.raw(8, "magic").elementsEqual(ShieldFormat.indexMagic) else {
            throw ArcaError(.invalidFormat, "index header: magic is not ARCASHIX (not a shield index)")
        }
        let version = try reader.u16("version")
        guard version == ShieldFormat.version else {
            throw ArcaError(.unsupported, "index header: format version \(version) is not supported (this reader knows version \(ShieldFormat.version))")
        }
        guard try reader.u16("reserved field") == 0 else { throw reader.fail("reserved field is not zero") }
        let chunkSize = try reader.u32("chunk size")
        let layout: ChunkLayout
        do { layout = try ChunkLayout(chunkSize: Int(chunkSize)) } catch let error as ArcaError { throw reader.fail(error.message) }
        let publicLength = try reader.u64("public section length")
        let encryptedLength = try reader.u64("encrypted section length")
        let count = Int(try reader.u32("stream count"))
        guard try reader.u32("reserved field") == 0 else { throw reader.fail("second reserved field is not zero") }
        guard count <= ShieldFormat.maximumStreams else {
            throw reader.fail("\(count) streams, over the \(ShieldFormat.maximumStreams) limit")
        }
        reader.place = "stream table"
        guard count <= reader.remaining / ShieldFormat.streamRowSize else {
            throw reader.fail("\(count) rows do not fit in the \(reader.remaining) bytes left")
        }
        var streams: [(chunkCount: UInt64, streamId: Hash256)] = []
        var seen = Set<Hash256>()
        for k in 0..<count {
            let chunkCount = try reader.u64("chunk count of stream \(k)")
            let id = try reader.hash("stream id of stream \(k)")
            guard chunkCount >= 1, chunkCount <= ChunkCodec.maximumChunkCount else {
                throw reader.fail("stream \(k) has \(chunkCount) chunks, not within 1…\(ChunkCodec.maximumChunkCount)")
            }
            guard seen.insert(id).inserted else { throw reader.fail("stream \(k) repeats the id of an earlier stream") }
            streams.append((chunkCount, id))
        }
        return IndexHeader(layout: layout, publicLength: publicLength, encryptedLength: encryptedLength, streams: streams)
    }
}

/// The fixed 64-byte header of a blob (FORMAT.md §4).
enum BlobHeader {
    static func encode(layout: ChunkLayout, chunkCount: UInt64, streamId: Hash256) -> [UInt8] {
        var out = ByteWriter()
        out.raw(ShieldFormat.blobMagic)
        out.u16(ShieldFormat.version)
        out.u16(0)
        out.u32(UInt32(layout.chunkSize))
        out.u64(chunkCount)
        out.hash(streamId)
        out.u64(0)
        return out.bytes
    }

    /// Names the first field where `actual` differs from the header the index implies.
    static func mismatch(actual: [UInt8], expected: [UInt8]) -> String? {
        let fields: [(String, Range<Int>)] = [("magic", 0..<8), ("version", 8..<10), ("reserved field", 10..<12),
                                              ("chunk size", 12..<16), ("chunk count", 16..<24), ("stream id", 24..<56),
                                              ("reserved field", 56..<64)]
        for (name, range) in fields where actual.count < range.upperBound || !actual[range].elementsEqual(expected[range]) {
            return name
        }
        return nil
    }

    /// Bytes of a blob of `chunkCount` chunks.
    static func blobSize(layout: ChunkLayout, chunkCount: UInt64) -> UInt64 {
        UInt64(ShieldFormat.blobHeaderSize) + chunkCount * UInt64(layout.chunkSize + ChunkCodec.tagSize)
    }
}
