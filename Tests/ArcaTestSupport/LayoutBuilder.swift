import ArcaArchive
import ArcaCore
import ArcaOCI

/// Writes OCI layouts blob by blob, so tests can build well-formed and deliberately broken images.
public struct LayoutBuilder {
    public let path: String

    public init(path: String) throws {
        self.path = path
        try FileSystem.makeDirectories("\(path)/blobs/sha256")
        try FileSystem.writeAtomically(Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8), to: "\(path)/oci-layout")
    }

    /// Stores `bytes` as a blob and returns its descriptor.
    @discardableResult
    public func blob(_ bytes: [UInt8], mediaType: String) throws -> Descriptor {
        let digest = Digest.sha256(of: bytes)
        try FileSystem.writeAtomically(bytes, to: "\(path)/blobs/sha256/\(digest.encoded)")
        return Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count))
    }

    public func json(_ value: some Encodable, mediaType: String) throws -> Descriptor {
        try blob(CanonicalJSON.encode(value), mediaType: mediaType)
    }

    /// Overwrites the stored bytes of a blob (keeping its name): for tampering tests.
    public func replace(_ descriptor: Descriptor, with bytes: [UInt8]) throws {
        try FileSystem.writeAtomically(bytes, to: "\(path)/blobs/sha256/\(descriptor.digest.encoded)")
    }

    /// Writes an image (config + given layer blobs + manifest) and returns the manifest descriptor.
    public func image(layers: [(bytes: [UInt8], diffID: Digest, mediaType: String)],
                      config: ContainerConfig = ContainerConfig(), platform: Platform = .linuxAMD64) throws -> Descriptor {
        var imageConfig = ImageConfig(architecture: platform.architecture, os: platform.os, config: config,
                                      rootfs: RootFS(diffIDs: layers.map(\.diffID)))
        imageConfig.variant = platform.variant
        let configDescriptor = try json(imageConfig, mediaType: MediaType.ociConfig)
        let layerDescriptors = try layers.map { try blob($0.bytes, mediaType: $0.mediaType) }
        return try json(Manifest(config: configDescriptor, layers: layerDescriptors), mediaType: MediaType.ociManifest)
    }

    /// Writes `index.json` listing `entries`, each with an optional tag.
    public func index(_ entries: [(Descriptor, tag: String?)]) throws {
        let manifests = entries.map { entry -> Descriptor in
            var descriptor = entry.0
            if let tag = entry.tag { descriptor.annotations = [refNameAnnotation: tag] }
            return descriptor
        }
        try FileSystem.writeAtomically(CanonicalJSON.encode(Index(manifests: manifests)), to: "\(path)/index.json")
    }
}

extension LayoutBuilder {
    /// Replaces layer `index` of the image tagged `tag` with `layer` (an uncompressed tar) and fixes
    /// up the config's diff_id and the manifest, as a host that tampers with an image would; tags
    /// the result `newTag`.
    public func replaceLayer(of tag: String, at index: Int, with layer: [UInt8], newTag: String) throws {
        let source = try OCILayout(readingFrom: path, tag: tag)
        let image = try ImageResolver().resolve(source)
        var config = image.config
        config.rootfs.diffIDs[index] = .sha256(of: layer)
        var manifest = image.manifest
        manifest.config = try json(config, mediaType: MediaType.ociConfig)
        manifest.layers[index] = try blob(layer, mediaType: MediaType.ociLayer)
        let manifestDescriptor = try json(manifest, mediaType: MediaType.ociManifest)
        let existing = try source.readIndex().manifests.map { ($0, $0.annotations?[refNameAnnotation]) }
        try self.index(existing.map { ($0.0, $0.1) } + [(manifestDescriptor, newTag)])
    }

    /// The uncompressed tar of layer `index` of the image tagged `tag`, as (entry, content) pairs.
    public func layerEntries(of tag: String, at index: Int) throws -> [(TarEntry, [UInt8]?)] {
        let source = try OCILayout(readingFrom: path, tag: tag)
        let image = try ImageResolver().resolve(source)
        let layer = image.layers[index]
        let compression = try MediaType.layerCompression(layer.mediaType)
        let reader = TarReader(compression.decompressing(try source.openVerifiedBlob(layer, label: "layer")))
        var entries: [(TarEntry, [UInt8]?)] = []
        while let entry = try reader.next() {
            entries.append((entry, entry.type == .regular ? try reader.contentSource().readAll(limit: 1 << 30, what: entry.path) : nil))
        }
        return entries
    }
}
