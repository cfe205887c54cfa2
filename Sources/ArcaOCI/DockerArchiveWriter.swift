import ArcaArchive
import ArcaCore

/// Writes an image as a docker-archive (`docker load` / `skopeo copy docker-archive:` read it):
/// uncompressed layers named by their diff_id, the config named by its digest, and
/// `manifest.json`. Blobs are collected in a spill directory beside the target; `commit` writes
/// the tarball to a temporary name and renames it into place, so a failed copy leaves no
/// half-written archive. The output is deterministic (fixed times, owners and modes).
public final class DockerArchiveWriter: ImageDestination {
    public let path: String
    public let imageName: String?
    public var name: String { "docker-archive:\(path)" + (imageName.map { ":\($0)" } ?? "") }
    public let acceptedLayerCompressions: [LayerCompression] = [.none]
    private let spill: String
    private var image: ResolvedImage?

    public init(path: String, name: String?) throws {
        self.path = path
        self.imageName = name
        let parent = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        guard FileSystem.isDirectory(parent.isEmpty ? "/" : parent) else {
            throw ArcaError(.notFound, "directory \(parent) for docker-archive \(path) does not exist")
        }
        spill = try FileSystem.makeTemporaryDirectory(prefix: ".arca-spill", in: parent.isEmpty ? "/" : parent)
    }

    deinit { try? FileSystem.removeTree(spill) }

    private func spillPath(_ digest: Digest) -> String { "\(spill)/\(digest.encoded)" }

    public func hasBlob(_ descriptor: Descriptor) throws -> Bool { FileSystem.exists(spillPath(descriptor.digest)) }

    public func putBlob(_ descriptor: Descriptor, from source: any ByteSource) throws {
        let temporary = FileSystem.makeTemporaryName(in: spill, prefix: ".ingest")
        let sink = try FileSink(path: temporary, exclusive: true)
        try VerifiedBlobSource(source, expected: descriptor, label: "blob").copy(to: sink)
        try sink.finish()
        try FileSystem.rename(temporary, to: spillPath(descriptor.digest))
    }

    public func putBlob(mediaType: String, write: (any ByteSink) throws -> Void) throws -> Descriptor {
        let temporary = FileSystem.makeTemporaryName(in: spill, prefix: ".ingest")
        let hashing = HashingSink(try FileSink(path: temporary, exclusive: true))
        try write(hashing)
        try hashing.finish()
        let digest = Digest(sha256Hex: hashing.hexDigest())
        try FileSystem.rename(temporary, to: spillPath(digest))
        return Descriptor(mediaType: mediaType, digest: digest, size: hashing.count)
    }

    public func putImage(manifestBytes: [UInt8], manifestDescriptor: Descriptor, image: ResolvedImage) throws {
        self.image = image
    }

    public func commit() throws {
        guard let image else { return }
        let configName = "\(image.manifest.config.digest.encoded).json"
        let layerNames = image.diffIDs.map { "\($0.encoded).tar" }
        var tags: [String]? = nil
        if let imageName {
            let reference = try RegistryReference(parsing: imageName)
            tags = [imageName.contains(":") || reference.digest != nil ? imageName : imageName + ":latest"]
        }
        let manifest = [DockerArchiveManifestEntry(config: configName, repoTags: tags ?? [], layers: layerNames)]

        let temporary = FileSystem.makeTemporaryName(in: spill, prefix: ".archive")
        let writer = TarWriter(sink: try FileSink(path: temporary, exclusive: true))
        func add(_ name: String, size: Int64, content: any ByteSource) throws {
            let entry = TarEntry(path: name, type: .regular, mode: 0o644, uid: 0, gid: 0, size: size)
            try writer.append(entry, content: content)
        }
        var written = Set<String>()
        for (diffID, name) in zip(image.diffIDs, layerNames) where written.insert(name).inserted {
            let file = spillPath(diffID)
            guard FileSystem.exists(file) else {
                throw ArcaError(.notFound, "layer \(diffID) was not written before the archive was committed")
            }
            try add(name, size: try FileSystem.size(file), content: try FileSource(path: file))
        }
        try add(configName, size: Int64(image.configBytes.count), content: MemorySource(image.configBytes))
        let manifestBytes = try CanonicalJSON.encode(manifest)
        try add("manifest.json", size: Int64(manifestBytes.count), content: MemorySource(manifestBytes))
        try writer.finish()
        try FileSystem.rename(temporary, to: path)
        self.image = nil
    }
}
