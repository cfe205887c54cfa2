import ArcaCore

/// The compressions OCI layers use. Decompressors guard against bombs with
/// `ArchiveLimits.maxLayerSize`; compressors are deterministic for the same input and level.
public enum LayerCompression: String, Sendable, Equatable, CaseIterable {
    case none, gzip, zstd

    /// The default level: 6 for gzip (as `gzip`), 3 for zstd (as `zstd`).
    public var defaultLevel: Int32 {
        switch self {
        case .none: 0
        case .gzip: 6
        case .zstd: 3
        }
    }

    /// A source of the decompressed bytes of `source`, refusing more than `limits.maxLayerSize`.
    /// Decompression (and the reads of `source`) run a few buffers ahead on a thread of their
    /// own (`ReadAheadSource`), so that inflating and what the caller does with the bytes
    /// (hashing, parsing) use two cores.
    public func decompressing(_ source: any ByteSource, limits: ArchiveLimits = .default) -> any ByteSource {
        switch self {
        case .none: SizeLimitedSource(source, limit: limits.maxLayerSize)
        case .gzip: ReadAheadSource(GzipDecompressor(source, limit: limits.maxLayerSize))
        case .zstd: ReadAheadSource(ZstdDecompressor(source, limit: limits.maxLayerSize))
        }
    }

    /// A sink that compresses into `sink` at the default level; `finish()` finishes `sink` too.
    public func compressing(_ sink: any ByteSink) -> any ByteSink {
        compressing(sink, level: defaultLevel)
    }

    /// A sink that compresses into `sink` at `level` (gzip 1–9, zstd 1–19).
    public func compressing(_ sink: any ByteSink, level: Int32) -> any ByteSink {
        switch self {
        case .none: sink
        case .gzip: ParallelGzipCompressor(sink, level: level)
        case .zstd: ZstdCompressor(sink, level: level)
        }
    }

    /// Recognizes a compression by its magic bytes (gzip `1f 8b`, zstd `28 b5 2f fd`);
    /// anything else is `.none` (a plain tar, or a compression the caller must refuse).
    public static func detect(_ first: [UInt8]) -> LayerCompression {
        if first.starts(with: [0x1f, 0x8b]) { return .gzip }
        if first.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) { return .zstd }
        return .none
    }
}

/// Passes bytes through and fails once more than `limit` have been read.
final class SizeLimitedSource: ByteSource {
    private let base: any ByteSource
    private let limit: Int64
    private var total: Int64 = 0

    init(_ base: any ByteSource, limit: Int64) {
        self.base = base
        self.limit = limit
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try base.read(into: buffer)
        total += Int64(n)
        guard total <= limit else { throw decompressedTooLarge(limit) }
        return n
    }
}

func decompressedTooLarge(_ limit: Int64) -> ArcaError {
    ArcaError(.limitExceeded, "decompressed layer is over the \(formatBytes(limit)) maxLayerSize limit")
}
