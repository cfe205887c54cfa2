import ArcaArchive
import ArcaCore

/// An OCI image layout directory (image-spec `image-layout.md`): `oci-layout`, `index.json`,
/// and content-addressed `blobs/sha256/…`. Reads verify every blob; writes go to a temporary
/// file that is renamed into place only once its digest checks out, and `index.json` is replaced
/// atomically, keeping the other tags.
public final class OCILayout: ImageSource, ImageDestination {
    public let path: String
    public let tag: String?
    public var name: String { "oci:\(path)" + (tag.map { ":\($0)" } ?? "") }
    public let acceptedLayerCompressions: [LayerCompression] = [.gzip, .zstd, .none]
    private var pending: [Descriptor] = []

    /// Opens an existing layout for reading.
    public init(readingFrom path: String, tag: String?) throws {
        self.path = path
        self.tag = tag
        guard FileSystem.isDirectory(path) else {
            throw ArcaError(.notFound, "OCI layout \(path) does not exist or is not a directory")
        }
        let markerPath = "\(path)/oci-layout"
        guard FileSystem.exists(markerPath) else {
            throw ArcaError(.invalidFormat, "\(path) is not an OCI image layout: it has no oci-layout file")
        }
        let marker = try CanonicalJSON.decode(ImageLayoutMarker.self, from: FileSystem.readFile(markerPath, limit: 4096), source: markerPath)
        guard marker.imageLayoutVersion.hasPrefix("1.") else {
            throw ArcaError(.unsupported, "\(markerPath) has layout version \(marker.imageLayoutVersion); Arca reads 1.x")
        }
    }

    /// Opens (creating if needed) a layout for writing.
    public init(writingTo path: String, tag: String?) throws {
        self.path = path
        self.tag = tag
        try FileSystem.makeDirectories("\(path)/blobs/sha256")
        let markerPath = "\(path)/oci-layout"
        if !FileSystem.exists(markerPath) {
            try FileSystem.writeAtomically(CanonicalJSON.encode(ImageLayoutMarker()), to: markerPath)
        }
    }

    func blobPath(_ digest: Digest) -> String { "\(path)/blobs/\(digest.algorithm)/\(digest.encoded)" }

    // MARK: reading

    public func readIndex() throws -> Index {
        let indexPath = "\(path)/index.json"
        guard FileSystem.exists(indexPath) else { return Index(manifests: []) }
        return try CanonicalJSON.decode(Index.self, from: FileSystem.readFile(indexPath, limit: CanonicalJSON.maxDocumentSize), source: indexPath)
    }

    /// The tags in `index.json`, in order.
    public func tags() throws -> [String] {
        try readIndex().manifests.compactMap { $0.annotations?[refNameAnnotation] }
    }

    public func rootDescriptor() throws -> Descriptor {
        let index = try readIndex()
        if let tag {
            guard let match = index.manifests.last(where: { $0.annotations?[refNameAnnotation] == tag }) else {
                let tags = index.manifests.compactMap { $0.annotations?[refNameAnnotation] }
                throw ArcaError(.notFound, "\(path) has no image tagged \"\(tag)\"" + (tags.isEmpty ? " (it has no tags)" : " (tags: \(tags.joined(separator: ", ")))"))
            }
            return match
        }
        switch index.manifests.count {
        case 0: throw ArcaError(.notFound, "\(path) holds no image (its index.json is empty)")
        case 1: return index.manifests[0]
        default:
            let tags = index.manifests.compactMap { $0.annotations?[refNameAnnotation] }
            throw ArcaError(.invalidArgument, "\(path) holds \(index.manifests.count) images; name one as oci:\(path):TAG"
                + (tags.isEmpty ? "" : " (tags: \(tags.joined(separator: ", ")))"))
        }
    }

    public func openRawBlob(_ descriptor: Descriptor) throws -> any ByteSource {
        let file = blobPath(descriptor.digest)
        do {
            return try FileSource(path: file)
        } catch let error as ArcaError where error.code == .notFound {
            throw ArcaError(.notFound, "\(path) is missing blob \(descriptor.digest)")
        }
    }

    // MARK: writing

    public func hasBlob(_ descriptor: Descriptor) throws -> Bool {
        guard FileSystem.exists(blobPath(descriptor.digest)) else { return false }
        return try FileSystem.size(blobPath(descriptor.digest)) == descriptor.size
    }

    public func putBlob(_ descriptor: Descriptor, from source: any ByteSource) throws {
        // A source that checks itself is not hashed twice.
        let verified: any ByteSource = (source as? any SelfVerifyingSource).map { $0.proves(descriptor) } == true
            ? source : VerifiedBlobSource(source, expected: descriptor, label: "blob")
        try ingest(to: blobPath(descriptor.digest)) { sink in
            try verified.copy(to: sink)
        }
    }

    public func putBlob(mediaType: String, write: (any ByteSink) throws -> Void) throws -> Descriptor {
        var digest: Digest?
        var size: Int64 = 0
        let temporary = try ingest(to: nil) { sink in
            let hashing = HashingSink(sink)
            try write(hashing)
            digest = Digest(sha256Hex: hashing.hexDigest())
            size = hashing.count
        }
        guard let digest else { throw ArcaError(.io, "blob for \(mediaType) was not written") }
        try FileSystem.rename(temporary, to: blobPath(digest))
        return Descriptor(mediaType: mediaType, digest: digest, size: size)
    }

    /// Writes into a temporary file in `blobs/sha256`, then renames it to `final` (if given).
    /// Returns the temporary path when `final` is nil (the caller renames it).
    @discardableResult
    private func ingest(to final: String?, _ body: (FileSink) throws -> Void) throws -> String {
        let temporary = FileSystem.makeTemporaryName(in: "\(path)/blobs/sha256", prefix: ".ingest")
        let sink = try FileSink(path: temporary, exclusive: true)
        do {
            try body(sink)
            try sink.finish()
            if let final { try FileSystem.rename(temporary, to: final) }
        } catch {
            try? FileSystem.removeTree(temporary)
            throw error
        }
        return temporary
    }

    public func putImage(manifestBytes: [UInt8], manifestDescriptor: Descriptor, image: ResolvedImage) throws {
        if try !hasBlob(manifestDescriptor) {
            try putBlob(manifestDescriptor, from: MemorySource(manifestBytes))
        }
        var entry = Descriptor(mediaType: manifestDescriptor.mediaType, digest: manifestDescriptor.digest, size: manifestDescriptor.size)
        if let tag { entry.annotations = [refNameAnnotation: tag] }
        pending.append(entry)
    }

    /// Adds the pending manifests to `index.json`: an entry with the same tag is replaced, the
    /// other tags are kept.
    public func commit() throws {
        guard !pending.isEmpty else { return }
        var index = try readIndex()
        for entry in pending {
            let tag = entry.annotations?[refNameAnnotation]
            index.manifests.removeAll { existing in
                let existingTag = existing.annotations?[refNameAnnotation]
                return tag != nil ? existingTag == tag : (existingTag == nil && existing.digest == entry.digest)
            }
            index.manifests.append(entry)
        }
        index.schemaVersion = 2
        index.mediaType = MediaType.ociIndex
        try FileSystem.writeAtomically(CanonicalJSON.encode(index), to: "\(path)/index.json")
        pending.removeAll()
    }
}
