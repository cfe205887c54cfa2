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

    /// Scans layer `index` of `image`. `consume` reads the tar (to its end, or part of it: the rest
    /// is read here); by default entries are only counted.
    public func scan(_ index: Int, of image: ResolvedImage, from source: any ImageSource,
                     consume: (TarReader) throws -> Void = { reader in while try reader.next() != nil {} }) throws -> LayerFacts {
        let layer = image.layers[index]
        let label = "layer \(index + 1) (\(layer.digest.short)…)"
        let compression = try MediaType.layerCompression(layer.mediaType)
        let verified = try source.openVerifiedBlob(layer, label: label)
        let plain = HashingSource(compression.decompressing(ProgressSource(verified, observer: progress), limits: limits))
        let reader = TarReader(plain, limits: limits)
        do {
            try consume(reader)
            while try reader.next() != nil {}
            try plain.drain()
            try verified.drain()
        } catch let error as ArcaError {
            throw ArcaError(error.code, "\(label): \(error.message)", cause: error.cause)
        }
        let diffID = Digest(sha256Hex: plain.hexDigest())
        guard diffID == image.diffIDs[index] else {
            throw ArcaError(.integrity, "\(label) does not match its diff_id: config says \(image.diffIDs[index]), content is \(diffID)")
        }
        return LayerFacts(digest: layer.digest, mediaType: layer.mediaType, size: layer.size, diffID: diffID,
                          uncompressedSize: plain.count, entries: reader.entryCount)
    }

    /// Applies every layer in order to a root filesystem model (whiteouts, hardlinks), verifying each.
    public func loadRootfs(of image: ResolvedImage, from source: any ImageSource,
                           options: RootfsOptions = RootfsOptions()) throws -> (facts: [LayerFacts], rootfs: Rootfs) {
        let builder = RootfsBuilder(options: options)
        beginProgress(image)
        defer { progress.end() }
        let facts = try image.layers.indices.map { index in
            try scan(index, of: image, from: source) { reader in try builder.apply(layer: reader, layerIndex: index) }
        }
        return (facts, builder.rootfs())
    }

    /// Extracts every layer in order into `directory` (like `umoci unpack`'s rootfs), safely:
    /// nothing is written outside it, whatever the layers hold.
    public func extract(_ image: ResolvedImage, from source: any ImageSource, into directory: String,
                        options: ExtractorOptions = ExtractorOptions()) throws -> [LayerFacts] {
        let extractor = try RootfsExtractor(directory: directory, options: options)
        let facts = try image.layers.indices.map { index in
            try scan(index, of: image, from: source) { reader in try extractor.apply(layer: reader) }
        }
        try extractor.finish()
        return facts
    }

    /// Scans every layer, in parallel.
    public func scanAll(of image: ResolvedImage, from source: any ImageSource, parallelism: Int) throws -> [LayerFacts] {
        beginProgress(image)
        defer { progress.end() }
        return try Parallel.map(image.layers.count, width: parallelism) { try scan($0, of: image, from: source) }
    }

    private func beginProgress(_ image: ResolvedImage) {
        let count = image.layers.count
        progress.begin("reading \(count) layer\(count == 1 ? "" : "s")", total: image.layers.reduce(0) { $0 + $1.size })
    }
}
