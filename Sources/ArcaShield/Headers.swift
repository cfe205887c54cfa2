import ArcaCore
import ArcaCrypto

/// The fixed 72-byte index header (FORMAT.md §5).
struct IndexHeader: Equatable {
    var layout: ChunkLayout
    var publicLength: UInt64
    var encryptedLength: UInt64
    var blobChunkCount: UInt64
    var streamId: Hash256

    func encode() -> [UInt8] {
        var out = ByteWriter()
        out.raw(ShieldFormat.indexMagic)
        out.u16(ShieldFormat.version)
        out.u16(0)
        out.u32(UInt32(layout.chunkSize))
        out.u64(publicLength)
        out.u64(encryptedLength)
        out.u64(blobChunkCount)
        out.hash(streamId)
        return out.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> IndexHeader {
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
        return IndexHeader(layout: layout, publicLength: try reader.u64("public section length"),
                           encryptedLength: try reader.u64("encrypted section length"),
                           blobChunkCount: try reader.u64("blob chunk count"), streamId: try reader.hash("stream id"))
    }
}

/// The fixed 64-byte blob header (FORMAT.md §4).
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
}
