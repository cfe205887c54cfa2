import ArcaArchive
import ArcaCore

/// Reads an image from a docker-archive: the tarball `docker save` (old and new layouts) or
/// `skopeo copy … docker-archive:` writes. The tar is indexed once; blobs are then read in place
/// with positional reads. The manifest is synthesized as a Docker schema 2 manifest.
public final class DockerArchiveReader: ImageSource {
    public let path: String
    public let imageName: String?
    public var name: String { "docker-archive:\(path)" + (imageName.map { ":\($0)" } ?? "") }

    private struct Region { var offset: Int64; var size: Int64 }
    private var files: [String: Region] = [:]
    private var blobs: [Digest: Region] = [:]
    private let manifestBytes: [UInt8]
    private let manifestDescriptor: Descriptor
    /// The archive that is read: the given file, or a decompressed copy of it.
    private let tarPath: String
    private var temporaryCopy: String?

    /// The most `manifest.json` entries or layers an archive may list.
    public static let maxImages = 1024

    public init(path: String, name: String?, limits: ArchiveLimits = ArchiveLimits()) throws {
        self.path = path
        self.imageName = name
        guard FileSystem.exists(path) else { throw ArcaError(.notFound, "docker-archive \(path) does not exist") }

        // `docker save | gzip` archives are accepted by decompressing them once to a temporary file.
        let compression = LayerCompression.detect(try FileSource(path: path).readPrefix(8))
        var tarPath = path
        if compression != .none {
            let copy = try FileSystem.makeTemporaryDirectory(prefix: "arca-archive") + "/archive.tar"
            let sink = try FileSink(path: copy, permissions: [.ownerReadWrite])
            try compression.decompressing(try FileSource(path: path), limits: limits).copy(to: sink)
            try sink.finish()
            tarPath = copy
            temporaryCopy = copy
        }
        self.tarPath = tarPath

        var links: [String: String] = [:]
        let reader = TarReader(try FileSource(path: tarPath), limits: limits)
        while let entry = try reader.next() {
            switch entry.type {
            case .regular: files[entry.path] = Region(offset: reader.dataOffset, size: entry.size)
            case .symlink: links[entry.path] = entry.linkTarget
            case .hardlink: links[entry.path] = "/" + entry.linkTarget
            default: break
            }
        }
        // Old `docker save` archives link repeated layers to one copy; resolve links inside the archive only.
        for (link, target) in links {
            let resolved = try Self.resolve(link: link, target: target, links: links, archive: path)
            if let region = files[resolved] { files[link] = region }
        }

        let manifestFile = try Self.readFile("manifest.json", files: files, tarPath: tarPath, archive: path)
        let entries = try CanonicalJSON.decode([DockerArchiveManifestEntry].self, from: manifestFile, source: "\(path): manifest.json")
        guard !entries.isEmpty else { throw ArcaError(.invalidFormat, "\(path): manifest.json lists no image") }
        guard entries.count <= Self.maxImages else {
            throw ArcaError(.limitExceeded, "\(path): manifest.json lists \(entries.count) images, over the \(Self.maxImages) limit")
        }
        let entry = try Self.choose(entries, name: name, archive: path)

        let configPath = try Self.member(entry.config, archive: path)
        let configBytes = try Self.readFile(configPath, files: files, tarPath: tarPath, archive: path)
        let configDigest = Digest.sha256(of: configBytes)
        blobs[configDigest] = files[configPath]
        let config = try CanonicalJSON.decode(ImageConfig.self, from: configBytes, source: "\(path): \(entry.config)")
        guard config.rootfs.diffIDs.count == entry.layers.count else {
            throw ArcaError(.invalidFormat, "\(path): \(entry.config) lists \(config.rootfs.diffIDs.count) diff_ids but manifest.json lists \(entry.layers.count) layers")
        }

        var layers: [Descriptor] = []
        for (index, layerName) in entry.layers.enumerated() {
            let layerPath = try Self.member(layerName, archive: path)
            guard let region = files[layerPath] else {
                throw ArcaError(.notFound, "\(path): layer \(layerName) named in manifest.json is not in the archive")
            }
            let head = try FileRegionSource(path: tarPath, offset: region.offset, length: region.size).readPrefix(8)
            let layerCompression = LayerCompression.detect(head)
            let digest: Digest
            let mediaType: String
            switch layerCompression {
            case .none:
                // An uncompressed layer's digest is its diff_id; reading it checks that claim.
                digest = config.rootfs.diffIDs[index]
                mediaType = MediaType.dockerLayer
            case .gzip, .zstd:
                let hashing = HashingSource(try FileRegionSource(path: tarPath, offset: region.offset, length: region.size))
                try hashing.drain()
                digest = Digest(sha256Hex: hashing.hexDigest())
                mediaType = layerCompression == .gzip ? MediaType.dockerLayerGzip : MediaType.ociLayerZstd
            }
            blobs[digest] = region
            layers.append(Descriptor(mediaType: mediaType, digest: digest, size: region.size))
        }
        let manifest = Manifest(mediaType: MediaType.dockerManifest,
                                config: Descriptor(mediaType: MediaType.dockerConfig, digest: configDigest, size: Int64(configBytes.count)),
                                layers: layers)
        manifestBytes = try CanonicalJSON.encode(manifest)
        manifestDescriptor = Descriptor(mediaType: MediaType.dockerManifest, digest: .sha256(of: manifestBytes), size: Int64(manifestBytes.count))
    }

    deinit {
        if let temporaryCopy {
            let directory = String(temporaryCopy[..<(temporaryCopy.lastIndex(of: "/") ?? temporaryCopy.endIndex)])
            try? FileSystem.removeTree(directory)
        }
    }

    public func rootDescriptor() throws -> Descriptor { manifestDescriptor }

    public func openRawBlob(_ descriptor: Descriptor) throws -> any ByteSource {
        if descriptor.digest == manifestDescriptor.digest { return MemorySource(manifestBytes) }
        guard let region = blobs[descriptor.digest] else {
            throw ArcaError(.notFound, "\(path) has no blob \(descriptor.digest)")
        }
        return try FileRegionSource(path: tarPath, offset: region.offset, length: region.size)
    }

    /// The RepoTags of the images in the archive.
    private static func choose(_ entries: [DockerArchiveManifestEntry], name: String?, archive: String) throws -> DockerArchiveManifestEntry {
        guard let name else {
            guard entries.count == 1 else {
                let tags = entries.flatMap { $0.repoTags ?? [] }
                throw ArcaError(.invalidArgument, "\(archive) holds \(entries.count) images; name one as docker-archive:\(archive):NAME:TAG (tags: \(tags.joined(separator: ", ")))")
            }
            return entries[0]
        }
        let wanted = try RegistryReference(parsing: name)
        if let match = entries.first(where: { $0.repoTags?.contains(where: { (try? RegistryReference(parsing: $0)) == wanted }) ?? false }) {
            return match
        }
        throw ArcaError(.notFound, "\(archive) has no image named \(name) (it has: \(entries.flatMap { $0.repoTags ?? [] }.joined(separator: ", ")))")
    }

    /// A member name from manifest.json, normalized; names that leave the archive are refused.
    private static func member(_ name: String, archive: String) throws -> String {
        guard !name.hasPrefix("/"), !name.split(separator: "/").contains("..") else {
            throw ArcaError(.unsafePath, "\(archive): manifest.json names \"\(name)\", which points outside the archive")
        }
        return try ArchivePath.normalize(name)
    }

    private static func resolve(link: String, target: String, links: [String: String], archive: String) throws -> String {
        var current = link
        var next = target
        for _ in 0..<16 {
            let base = next.hasPrefix("/") ? "" : String(current.split(separator: "/").dropLast().joined(separator: "/"))
            var parts: [Substring] = []
            for part in (base + "/" + next).split(separator: "/") {
                switch part {
                case ".", "": continue
                case "..":
                    guard !parts.isEmpty else {
                        throw ArcaError(.unsafePath, "\(archive): link \(link) points outside the archive")
                    }
                    parts.removeLast()
                default: parts.append(part)
                }
            }
            current = parts.joined(separator: "/")
            guard let further = links[current] else { return current }
            next = further
        }
        throw ArcaError(.invalidFormat, "\(archive): link \(link) is part of a loop")
    }

    private static func readFile(_ name: String, files: [String: Region], tarPath: String, archive: String) throws -> [UInt8] {
        guard let region = files[name] else { throw ArcaError(.invalidFormat, "\(archive) is not a docker-archive: it has no \(name)") }
        guard region.size <= Int64(CanonicalJSON.maxDocumentSize) else {
            throw ArcaError(.limitExceeded, "\(archive): \(name) is \(formatBytes(region.size)), over the \(formatBytes(CanonicalJSON.maxDocumentSize)) limit")
        }
        return try FileRegionSource(path: tarPath, offset: region.offset, length: region.size)
            .readExactly(Int(region.size), what: "\(archive): \(name)")
    }
}
