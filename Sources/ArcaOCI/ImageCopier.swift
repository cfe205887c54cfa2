import ArcaArchive
import ArcaCore

/// Copies an image from a source store to a destination store, verifying every blob (digest and
/// size) on the way, and recompressing layers where asked or where the destination needs it.
/// Layers are processed in parallel; the result does not depend on timing.
///
/// A layer's diff_id is checked wherever the layer is decompressed: when it is recompressed here,
/// and by every reader that uses its content (seal, run, inspect --tree, unpack). A layer passed
/// through unchanged is pinned by its blob digest, so its diff_id is only checked here when
/// `checkPassThroughDiffIDs` asks for it (`arca copy --verify-diff-ids`); pairs proven before
/// (`verifiedLayers`) are then not decompressed again.
public struct ImageCopier {
    /// The layer compression to write; nil keeps each layer as it is where the destination accepts it.
    public var compression: LayerCompression?
    /// The compression level; nil for `ImageCopier.defaultLevel(for:)`.
    public var compressionLevel: Int32?
    public var limits: ArchiveLimits
    public var progress: any ProgressObserver
    /// How many layers are copied at once.
    public var parallelism: Int
    /// Whether a layer passed through unchanged is also decompressed to check its diff_id (on a
    /// second thread beside the transfer). Off by default: the blob digest already pins its bytes,
    /// and every reader of the content checks the diff_id where it decompresses anyway.
    public var checkPassThroughDiffIDs: Bool
    /// Layers whose diff_id was proven before: with `checkPassThroughDiffIDs`, passed-through
    /// copies of these skip the decompression (their blob digest is still checked).
    public var verifiedLayers: VerifiedLayerCache?

    /// gzip 1, zstd 3. gzip -1 costs about the CPU time of skopeo's default gzip for output about
    /// 4% larger (measured on the python image, docs/BENCHMARKS.md); gzip -6 costs twice as much.
    public static func defaultLevel(for compression: LayerCompression) -> Int32 {
        compression == .gzip ? 1 : compression.defaultLevel
    }

    public init(compression: LayerCompression? = nil, compressionLevel: Int32? = nil, limits: ArchiveLimits = ArchiveLimits(),
                progress: any ProgressObserver = SilentProgress(),
                parallelism: Int = max(1, min(4, ProcessInfoLite.activeProcessorCount)),
                checkPassThroughDiffIDs: Bool = false, verifiedLayers: VerifiedLayerCache? = nil) {
        self.checkPassThroughDiffIDs = checkPassThroughDiffIDs
        self.verifiedLayers = verifiedLayers
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
            return try passThrough(layer, index: index, compression: from, diffID: diffID, from: source, to: destination, label: label)
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
        verifiedLayers?.record(blob: layer.digest, compression: from, diffID: diffID)
        var result = stored
        result.annotations = layer.annotations
        return result
    }

    /// Copies a layer whose bytes stay as they are. The blob's digest and size are always checked
    /// as it streams. With `checkPassThroughDiffIDs`, its diff_id is checked too unless
    /// `verifiedLayers` recorded this (blob, diff_id) pair as proven before — by decompressing
    /// beside the transfer, on a second thread, so the check costs little wall time; the
    /// destination keeps the blob only when both checks passed.
    private func passThrough(_ layer: Descriptor, index: Int, compression: LayerCompression, diffID: Digest,
                             from source: any ImageSource, to destination: any ImageDestination, label: String) throws -> Descriptor {
        if compression == .none, layer.digest != diffID {
            throw ArcaError(.integrity, "\(label) does not match its diff_id: config says \(diffID), content is \(layer.digest)")
        }
        // An uncompressed layer's diff_id is its blob digest, which the verified stream proves.
        let proven = compression == .none || !checkPassThroughDiffIDs
            || verifiedLayers?.contains(blob: layer.digest, compression: compression, diffID: diffID) == true
        if try destination.hasBlob(layer) {
            if !proven {
                // Nothing to forward, but the pair is proven from the source before it is trusted.
                try checkDiffID(of: source.openVerifiedBlob(layer, label: label), layer: layer, compression: compression, expected: diffID, label: label)
                verifiedLayers?.record(blob: layer.digest, compression: compression, diffID: diffID)
            }
            progress.advance(by: layer.size)
            return layer
        }
        let verified = try source.openVerifiedBlob(layer, label: label)
        guard !proven else {
            try destination.putBlob(layer, from: PassThroughSource(verified, progress: progress, checker: nil))
            return layer
        }
        let checker = try BackgroundReader { plain in
            try checkDiffID(of: plain, layer: layer, compression: compression, expected: diffID, label: label)
        }
        defer { try? checker.wait() }  // ends the checker's stream when the transfer failed
        try destination.putBlob(layer, from: PassThroughSource(verified, progress: progress, checker: checker))
        verifiedLayers?.record(blob: layer.digest, compression: compression, diffID: diffID)
        return layer
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

/// A layer on its way through unchanged: the verified blob's bytes as they are, reported to the
/// progress observer and handed to the diff_id checker. Its end is only reported once the blob's
/// digest *and* the checker's diff_id are proven, so the destination (which may rely on this
/// source's own proof and not hash again) commits nothing unproven.
private final class PassThroughSource: SelfVerifyingSource {
    private let base: VerifiedBlobSource
    private let progress: any ProgressObserver
    private let checker: BackgroundReader?

    init(_ base: VerifiedBlobSource, progress: any ProgressObserver, checker: BackgroundReader?) {
        self.base = base
        self.progress = progress
        self.checker = checker
    }

    var promised: Descriptor { base.promised }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try base.read(into: buffer)
        if n > 0 {
            progress.advance(by: Int64(n))
            try checker?.write(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
        } else {
            try checker?.wait()
        }
        return n
    }
}
