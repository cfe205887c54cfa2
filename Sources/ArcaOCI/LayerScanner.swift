import ArcaArchive
import ArcaCore

/// What reading one layer to its end found.
public struct LayerFacts: Sendable, Equatable, Codable {
    public var digest: Digest
    public var mediaType: String
    public var size: Int64
    public var diffID: Digest
    public var uncompressedSize: Int64
    public var entries: Int
}

/// Reads layers completely: verifies blob digest and size, decompresses, checks the diff_id, and
/// walks the tar (with all the archive limits), optionally applying entries to a root filesystem.
public struct LayerScanner {
    public var limits: ArchiveLimits
    public var progress: any ProgressObserver

    public init(limits: ArchiveLimits = ArchiveLimits(), progress: any ProgressObserver = SilentProgress()) {
        self.limits = limits
        self.progress = progress
    }

    /// Scans layer `index` of `image`; `visit` sees each entry while the reader is positioned on it.
    public func scan(_ index: Int, of image: ResolvedImage, from source: any ImageSource,
                     visit: (TarEntry, TarReader) throws -> Void = { _, _ in }) throws -> LayerFacts {
        let layer = image.layers[index]
        let label = "layer \(index + 1) (\(layer.digest.short)…)"
        let compression = try MediaType.layerCompression(layer.mediaType)
        let verified = try source.openVerifiedBlob(layer, label: label)
        let plain = HashingSource(compression.decompressing(ProgressSource(verified, observer: progress), limits: limits))
        let reader = TarReader(plain, limits: limits)
        var entries = 0
        do {
            while let entry = try reader.next() {
                entries += 1
                try visit(entry, reader)
            }
        } catch let error as ArcaError {
            throw ArcaError(error.code, "\(label): \(error.message)")
        }
        try plain.drain()
        try verified.drain()
        let diffID = Digest(sha256Hex: plain.hexDigest())
        guard diffID == image.diffIDs[index] else {
            throw ArcaError(.integrity, "\(label) does not match its diff_id: config says \(image.diffIDs[index]), content is \(diffID)")
        }
        return LayerFacts(digest: layer.digest, mediaType: layer.mediaType, size: layer.size, diffID: diffID,
                          uncompressedSize: plain.count, entries: entries)
    }

    /// Scans every layer, in parallel.
    public func scanAll(of image: ResolvedImage, from source: any ImageSource, parallelism: Int) throws -> [LayerFacts] {
        progress.begin("reading \(image.layers.count) layers", total: image.layers.reduce(0) { $0 + $1.size })
        defer { progress.end() }
        return try Parallel.map(image.layers.count, width: parallelism) { try scan($0, of: image, from: source) }
    }
}
