import ArcaCore

/// Limits that bound what a hostile layer can make Arca spend. Each one is named in its error.
public struct ArchiveLimits: Sendable, Equatable {
    /// Largest decompressed (tar) stream of one layer, in bytes.
    public var maxLayerSize: Int64
    /// Most entries (headers of files, directories, links…) in one layer.
    public var maxEntries: Int
    /// Largest PAX / GNU long-name record set preceding one entry, in bytes.
    public var maxHeaderSize: Int
    /// Longest normalized path or link target, in bytes.
    public var maxPathLength: Int
    /// Largest total size of one entry's extended attributes (names + values), in bytes.
    public var maxXattrSize: Int

    public init(maxLayerSize: Int64 = 64 << 30, maxEntries: Int = 1_000_000, maxHeaderSize: Int = 1 << 20,
                maxPathLength: Int = 4096, maxXattrSize: Int = 64 << 10) {
        self.maxLayerSize = maxLayerSize
        self.maxEntries = maxEntries
        self.maxHeaderSize = maxHeaderSize
        self.maxPathLength = maxPathLength
        self.maxXattrSize = maxXattrSize
    }

    /// The defaults: 64 GiB per layer, 1,000,000 entries, 1 MiB of extended headers,
    /// 4096-byte paths, 64 KiB of xattrs per entry.
    public static let `default` = ArchiveLimits()
}
