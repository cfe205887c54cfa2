import ArcaArchive
import ArcaCore

/// Copies an image from a source store to a destination store, verifying every blob (digest and
/// size) and every layer's diff_id on the way, and recompressing layers where asked or where the
/// destination needs it. Layers are processed in parallel; the result does not depend on timing.
public struct ImageCopier {
    /// The layer compression to write; nil keeps each layer as it is where the destination accepts it.
    public var compression: LayerCompression?
    /// The compression level; nil for `ImageCopier.defaultLevel(for:)`.
    public var compressionLevel: Int32?
    public var limits: ArchiveLimits
    public var progress: any ProgressObserver
    /// How many layers are copied at once.
    public var parallelism: Int

    /// gzip 1, zstd 3. gzip -1 costs about the CPU time of skopeo's default gzip for output about
    /// 4% larger (measured on the python image, docs/BENCHMARKS.md); gzip -6 costs twice as much.
    public static func defaultLevel(for compression: LayerCompression) -> Int32 {
        compression == .gzip ? 1 : compression.defaultLevel
    }

    public init(compression: LayerCompression? = nil, compressionLevel: Int32? = nil, limits: ArchiveLimits = ArchiveLimits(),
                progress: any ProgressObserver = SilentProgress(),
                parallelism: Int = max(1, min(4, ProcessInfoLite.activeProcessorCount))) {
        self.compression = compression
        self.compressionLevel = compressionLevel
        self.limits = limits
        self.progress = progress
        self.parallelism = parallelism
    }

    /// Copies `image` (resolved from `source`) into `destination` and commits it.
    /// Returns the descriptor of the manifest written.
    @discardableResult
    public func copy(_ image: ResolvedImage, from source: any ImageSource, to destination: any ImageDestination) throws -> Descriptor {
        let layers = image.layers
        let total = layers.reduce(Int64(0)) { $0 + $1.size }
        progress.begin("copying \(layers.count) layer\(layers.count == 1 ? "" : "s")", total: total)
        defer { progress.end() }

        let newLayers = try Parallel.map(layers.count, width: parallelism) { index in
            try copyLayer(index, of: image, from: source, to: destination)
        }

        let manifestBytes: [UInt8]
        let manifestDescriptor: Descriptor
        let configType = image.manifest.config.mediaType
        if newLayers == layers {
            manifestBytes = image.manifestBytes
            manifestDescriptor = image.manifestDescriptor
        } else {
            var config = image.manifest.config
            config.mediaType = MediaType.ociConfig
            var manifest = Manifest(config: config, layers: newLayers, annotations: image.manifest.annotations)
            manifest.subject = image.manifest.subject
            manifestBytes = try CanonicalJSON.encode(manifest)
            manifestDescriptor = Descriptor(mediaType: MediaType.ociManifest, digest: .sha256(of: manifestBytes),
                                            size: Int64(manifestBytes.count))
        }
        let configDescriptor = Descriptor(mediaType: configType, digest: image.manifest.config.digest, size: image.manifest.config.size)
        if try !destination.hasBlob(configDescriptor) {
            try destination.putBlob(configDescriptor, from: MemorySource(image.configBytes))
        }
        try destination.putImage(manifestBytes: manifestBytes, manifestDescriptor: manifestDescriptor, image: image)
        try destination.commit()
        return manifestDescriptor
    }

    /// Copies one layer; returns its descriptor in the destination.
    private func copyLayer(_ index: Int, of image: ResolvedImage, from source: any ImageSource,
                           to destination: any ImageDestination) throws -> Descriptor {
        let layer = image.layers[index]
        let diffID = image.diffIDs[index]
        let from = try MediaType.layerCompression(layer.mediaType)
        let accepted = destination.acceptedLayerCompressions
        // Asked-for compression where accepted; else keep a compressed layer as it is; else the
        // destination's preference (gzip for a layout, none for a docker-archive).
        let to: LayerCompression = compression.flatMap { accepted.contains($0) ? $0 : nil }
            ?? (from != .none && accepted.contains(from) ? from : accepted[0])
        let label = "layer \(index + 1) (\(layer.digest.short)…)"

        if to == from {
            if try destination.hasBlob(layer) {
                // Still prove the stored blob matches, as a cheap verified read of the source.
                try checkDiffID(of: source.openVerifiedBlob(layer, label: label), layer: layer, compression: from, expected: diffID, label: label)
                return layer
            }
            // Pass through: the compressed bytes go to the destination as they are read, while the
            // same bytes are decompressed and hashed to check the diff_id.
            let stored = try destination.putBlob(mediaType: layer.mediaType) { sink in
                let verified = try source.openVerifiedBlob(layer, label: label)
                let tee = TeeSource(ProgressSource(verified, observer: progress), copyingTo: sink)
                try checkDiffID(of: tee, layer: layer, compression: from, expected: diffID, label: label)
            }
            var result = layer
            result.digest = stored.digest
            result.size = stored.size
            return result
        }

        let targetType = destination.acceptedLayerCompressions == [.none] ? MediaType.dockerLayer : MediaType.ociLayer(to)
        let stored = try destination.putBlob(mediaType: targetType) { sink in
            let verified = ProgressSource(try source.openVerifiedBlob(layer, label: label), observer: progress)
            let plain = try uncompressed(verified, layer: layer, compression: from, diffID: diffID, label: label)
            let compressor = to.compressing(sink, level: compressionLevel ?? Self.defaultLevel(for: to))
            try plain.stream.copy(to: compressor)
            try compressor.finish()
            try verified.drain()
            try plain.check()
        }
        var result = stored
        result.annotations = layer.annotations
        return result
    }

    /// Decompresses `source` to its end and checks the uncompressed digest against the diff_id.
    private func checkDiffID(of source: any ByteSource, layer: Descriptor, compression: LayerCompression, expected: Digest, label: String) throws {
        let plain = try uncompressed(source, layer: layer, compression: compression, diffID: expected, label: label)
        try plain.stream.drain()
        try source.drain()
        try plain.check()
    }

    /// The uncompressed bytes of a layer blob, and a check to run once they were all read. For an
    /// uncompressed layer the blob digest *is* the diff_id, which the verified blob stream proves
    /// at its end, so nothing is hashed twice.
    private func uncompressed(_ blob: any ByteSource, layer: Descriptor, compression: LayerCompression, diffID: Digest,
                              label: String) throws -> (stream: any ByteSource, check: () throws -> Void) {
        let mismatch = { (actual: Digest) in
            ArcaError(.integrity, "\(label) does not match its diff_id: config says \(diffID), content is \(actual)")
        }
        if compression == .none {
            guard layer.digest == diffID else { throw mismatch(layer.digest) }
            return (compression.decompressing(blob, limits: limits), {})
        }
        let hashing = HashingSource(compression.decompressing(blob, limits: limits))
        return (hashing, {
            let actual = Digest(sha256Hex: hashing.hexDigest())
            guard actual == diffID else { throw mismatch(actual) }
        })
    }
}
