import ArcaArchive
import ArcaCore
// Stand-in for the archive branch's API until it is merged.
public enum LayerCompression: String, Sendable, CaseIterable, Codable {
    case none, gzip, zstd
    public func decompressing(_ source: any ByteSource, limits: ArchiveLimits) throws -> any ByteSource { source }
    public func compressing(_ sink: any ByteSink) throws -> any ByteSink { sink }
}
public struct ArchiveLimits: Sendable { public init() {} }
