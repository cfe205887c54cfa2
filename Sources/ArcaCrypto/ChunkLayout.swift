import ArcaCore

/// Offset math for a fixed chunk size: which chunks a byte range touches, how long each one is.
public struct ChunkLayout: Hashable, Sendable {
    /// The smallest and largest chunk sizes the format accepts (powers of two in between).
    public static let minimumChunkSize = 4096
    public static let maximumChunkSize = 1 << 20
    /// The chunk size of format version 1 unless a shield declares another one.
    public static let defaultChunkSize = 65536

    public let chunkSize: Int

    /// Accepts a power of two from 4 KiB to 1 MiB.
    public init(chunkSize: Int = ChunkLayout.defaultChunkSize) throws {
        guard chunkSize >= Self.minimumChunkSize, chunkSize <= Self.maximumChunkSize, chunkSize & (chunkSize - 1) == 0 else {
            throw ArcaError(.invalidFormat, "chunk size \(chunkSize) is not a power of two from \(Self.minimumChunkSize) to \(Self.maximumChunkSize)")
        }
        self.chunkSize = chunkSize
    }

    /// `ceil(size / chunkSize)`; 0 for an empty file.
    public func chunkCount(size: UInt64) -> UInt64 {
        size == 0 ? 0 : (size - 1) / UInt64(chunkSize) + 1
    }

    /// The plaintext length of chunk `index` of a file of `size` bytes (the last one may be short).
    public func chunkLength(index: UInt64, size: UInt64) -> Int {
        let start = index * UInt64(chunkSize)
        guard start < size else { return 0 }
        return Int(min(UInt64(chunkSize), size - start))
    }

    /// The byte offset where chunk `index` starts.
    public func chunkStart(index: UInt64) -> UInt64 { index * UInt64(chunkSize) }

    /// The chunks that hold the bytes `[offset, offset + length)`, clipped to `size`; empty when
    /// the range is empty or starts at or after the end.
    public func chunks(offset: UInt64, length: UInt64, size: UInt64) -> Range<UInt64> {
        guard length > 0, offset < size else { return 0..<0 }
        let end = offset + min(length, size - offset)
        return offset / UInt64(chunkSize) ..< (end - 1) / UInt64(chunkSize) + 1
    }
}
