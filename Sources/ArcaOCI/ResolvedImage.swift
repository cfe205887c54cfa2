import ArcaCore

/// One image, resolved to a single platform: its manifest and config, read and verified.
public struct ResolvedImage: Sendable {
    public var manifestDescriptor: Descriptor
    public var manifestBytes: [UInt8]
    public var manifest: Manifest
    public var configBytes: [UInt8]
    public var config: ImageConfig
    /// The index the manifest was chosen from, if any (for messages and `inspect`).
    public var indexDescriptor: Descriptor?

    public init(manifestDescriptor: Descriptor, manifestBytes: [UInt8], manifest: Manifest,
                configBytes: [UInt8], config: ImageConfig, indexDescriptor: Descriptor? = nil) {
        self.manifestDescriptor = manifestDescriptor
        self.manifestBytes = manifestBytes
        self.manifest = manifest
        self.configBytes = configBytes
        self.config = config
        self.indexDescriptor = indexDescriptor
    }

    public var layers: [Descriptor] { manifest.layers }
    public var diffIDs: [Digest] { config.rootfs.diffIDs }
}

/// Resolves a source's root descriptor to one image: follows (nested) indexes to the wanted
/// platform, reads and checks the manifest and config.
public struct ImageResolver {
    public var platform: Platform
    /// How deep indexes may nest before the image is refused.
    public var maxIndexDepth = 4

    public init(platform: Platform = .linuxAMD64) { self.platform = platform }

    public func resolve(_ source: any ImageSource) throws -> ResolvedImage {
        try resolve(source, descriptor: source.rootDescriptor(), index: nil, depth: 0)
    }

    private func resolve(_ source: any ImageSource, descriptor: Descriptor, index: Descriptor?, depth: Int) throws -> ResolvedImage {
        let bytes = try source.readSmallBlob(descriptor, label: "manifest")
        let shape = try CanonicalJSON.decode(DocumentShape.self, from: bytes, source: "manifest \(descriptor.digest.short)…")
        if MediaType.isIndex(descriptor.mediaType) {
            guard shape.manifests != nil, shape.layers == nil else {
                throw ArcaError(.invalidFormat, "\(descriptor.digest.short)… is described as an index (\(descriptor.mediaType)) but its content is not an index")
            }
            try checkDeclaredType(shape.mediaType, descriptor: descriptor)
            guard depth < maxIndexDepth else {
                throw ArcaError(.limitExceeded, "image indexes nest deeper than \(maxIndexDepth) levels")
            }
            let parsed = try CanonicalJSON.decode(Index.self, from: bytes, source: "index \(descriptor.digest.short)…")
            let chosen = try choose(from: parsed, in: source)
            return try resolve(source, descriptor: chosen, index: index ?? descriptor, depth: depth + 1)
        }
        guard MediaType.isManifest(descriptor.mediaType) else {
            throw ArcaError(.unsupported, "\(source.name) points at media type \"\(descriptor.mediaType)\", which is neither an image manifest nor an index")
        }
        guard shape.layers != nil, shape.manifests == nil else {
            throw ArcaError(.invalidFormat, "\(descriptor.digest.short)… is described as a manifest (\(descriptor.mediaType)) but its content is not a manifest")
        }
        try checkDeclaredType(shape.mediaType, descriptor: descriptor)
        let manifest = try CanonicalJSON.decode(Manifest.self, from: bytes, source: "manifest \(descriptor.digest.short)…")
        guard MediaType.isConfig(manifest.config.mediaType) else {
            throw ArcaError(.unsupported, "manifest \(descriptor.digest.short)… has config media type \"\(manifest.config.mediaType)\", not an image config (is it an artifact?)")
        }
        for layer in manifest.layers { _ = try MediaType.layerCompression(layer.mediaType) }
        let configBytes = try source.readSmallBlob(manifest.config, label: "config")
        let config = try CanonicalJSON.decode(ImageConfig.self, from: configBytes, source: "config \(manifest.config.digest.short)…")
        guard config.rootfs.diffIDs.count == manifest.layers.count else {
            throw ArcaError(.invalidFormat, "config \(manifest.config.digest.short)… lists \(config.rootfs.diffIDs.count) diff_ids but the manifest has \(manifest.layers.count) layers")
        }
        return ResolvedImage(manifestDescriptor: descriptor, manifestBytes: bytes, manifest: manifest,
                             configBytes: configBytes, config: config, indexDescriptor: index)
    }

    /// A manifest's own `mediaType` field, when present, must agree with the descriptor that led to it.
    private func checkDeclaredType(_ declared: String?, descriptor: Descriptor) throws {
        if let declared, declared != descriptor.mediaType {
            throw ArcaError(.invalidFormat, "\(descriptor.digest.short)… declares media type \(declared) but is referenced as \(descriptor.mediaType)")
        }
    }

    private func choose(from index: Index, in source: any ImageSource) throws -> Descriptor {
        let candidates = index.manifests.filter { MediaType.isManifest($0.mediaType) || MediaType.isIndex($0.mediaType) }
        if let match = candidates.first(where: { $0.platform.map(platform.matches) ?? false }) { return match }
        let unlabeled = candidates.filter { $0.platform == nil }
        if unlabeled.count == 1 { return unlabeled[0] }
        let available = candidates.compactMap { $0.platform?.description }
        throw ArcaError(.notFound, "\(source.name) has no image for platform \(platform)"
            + (available.isEmpty ? "" : " (it has: \(available.joined(separator: ", ")); choose with --platform)"))
    }
}

/// Just enough of a JSON document to tell an index from a manifest.
private struct DocumentShape: Decodable {
    var mediaType: String?
    var manifests: [IgnoredValue]?
    var layers: [IgnoredValue]?
}

private struct IgnoredValue: Decodable {
    init(from decoder: any Decoder) throws {}
}
