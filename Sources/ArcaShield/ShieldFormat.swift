import ArcaCore

/// Constants and limits of shield format version 2 (docs/FORMAT.md §5).
public enum ShieldFormat {
    public static let version: UInt16 = 2
    static let indexMagic = Array("ARCASHIX".utf8)
    static let blobMagic = Array("ARCASBLB".utf8)
    /// Bytes of the fixed index header (the stream table follows it).
    public static let indexHeaderSize = 40
    /// Bytes of one stream-table row: `u64 chunkCount ‖ streamId`.
    public static let streamRowSize = 40
    /// The most streams (blobs) one index may name.
    public static let maximumStreams = 4096
    /// Bytes of the blob header.
    public static let blobHeaderSize = 64

    /// The largest index the parser accepts.
    public static let maximumIndexSize = 1 << 30
    /// Entries per section.
    public static let maximumEntries = 1 << 22
    public static let maximumPathLength = 4096
    public static let maximumComponentLength = 255
    public static let maximumLinkTargetLength = 4096
    public static let maximumXattrCount = 128
    public static let maximumXattrNameLength = 255
    public static let maximumXattrValueLength = 65536
    /// The largest regular file: 1 TiB.
    public static let maximumFileSize: UInt64 = 1 << 40

    /// The padded length of an encrypted index plaintext of `length` bytes: 4096 at least,
    /// then Padmé (at most ~12 % overhead; leaks O(log log length) bits).
    public static func paddedLength(_ length: Int) -> Int {
        guard length > 4096 else { return 4096 }
        let e = Int.bitWidth - 1 - length.leadingZeroBitCount
        let s = Int.bitWidth - e.leadingZeroBitCount
        let mask = (1 << (e - s)) - 1
        return (length + mask) & ~mask
    }
}
