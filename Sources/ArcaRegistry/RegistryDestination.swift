import ArcaArchive
import ArcaCore
import ArcaOCI
import NIOCore
import NIOHTTP1
import Synchronization

/// Pushes an image to a registry: blobs first (HEAD, then a cross-repository mount when a
/// `mountFrom` repository is set, then an upload), the manifest last in `commit`, by tag or, for a
/// digest reference, by digest. Blobs already in the repository are never uploaded again.
public final class RegistryDestination: ImageDestination {
    public let name: String
    let client: RegistryClient
    private let manifest = Mutex<(bytes: [UInt8], descriptor: Descriptor)?>(nil)
    private let counters = Mutex(Counters())
    /// Blobs a mount was tried for and failed: not tried again.
    private let unmountable = Mutex<Set<Digest>>([])

    /// What a push did, for messages and tests.
    public struct Counters: Sendable, Equatable {
        public var uploaded = 0
        public var mounted = 0
        public var skipped = 0
        public var patches = 0
        public var uploadedBytes: Int64 = 0
    }

    public var counts: Counters { counters.withLock { $0 } }

    public init(_ reference: RegistryReference, options: RegistryOptions) throws {
        self.name = "docker://\(reference)"
        self.client = try RegistryClient(reference, options: options, push: true)
    }

    public var acceptedLayerCompressions: [LayerCompression] { [.gzip, .zstd, .none] }

    /// HEAD on the blob; when it is missing and a `mountFrom` repository is set, a mount from
    /// there counts as having it.
    public func hasBlob(_ descriptor: Descriptor) throws -> Bool {
        if try exists(descriptor.digest) {
            counters.withLock { $0.skipped += 1 }
            return true
        }
        return try mount(descriptor.digest)
    }

    func exists(_ digest: Digest) throws -> Bool {
        let response = try client.perform(.HEAD, client.path("blobs/\(digest)"))
        switch response.status.code {
        case 200:
            response.close()
            return true
        case 404:
            response.close()
            return false
        default:
            throw client.failure(response, "the check for blob \(digest.short)…")
        }
    }

    /// `POST …/blobs/uploads/?mount=DIGEST&from=REPO`: 201 means the blob is now here; 202 means
    /// the registry could not mount it and opened an upload instead, which is cancelled.
    func mount(_ digest: Digest) throws -> Bool {
        guard let from = client.options.mountFrom, from != client.reference.repository,
              !unmountable.withLock({ $0.contains(digest) }) else { return false }
        let url = RegistryClient.appending(RegistryClient.appending(client.path("blobs/uploads/"), "mount", digest.description), "from", from)
        let response = try client.perform(.POST, url, headers: ["Content-Length": "0"])
        switch response.status.code {
        case 201:
            response.close()
            counters.withLock { $0.mounted += 1 }
            return true
        case 202:
            if let location = response.header("Location"), let request = try? client.prepare(.DELETE, client.resolve(location, against: client.baseURL())) {
                _ = (try? client.transport.send(request))?.readErrorBody()
            }
            response.close()
            unmountable.withLock { _ = $0.insert(digest) }
            return false
        default:
            throw client.failure(response, "the mount of blob \(digest.short)… from \(from)")
        }
    }

    public func putBlob(_ descriptor: Descriptor, from source: any ByteSource) throws {
        if try mount(descriptor.digest) { return }
        // A source that proves its own digest (ImageCopier's verified blobs) is not hashed again.
        let proven = (source as? any SelfVerifyingSource).map { $0.proves(descriptor) } == true
        let upload = BlobUpload(client: client, known: proven ? descriptor : nil)
        try source.copy(to: upload)
        _ = try upload.complete(expected: descriptor)
        record(upload)
    }

    public func putBlob(mediaType: String, write: (any ByteSink) throws -> Void) throws -> Descriptor {
        let upload = BlobUpload(client: client)
        do {
            try write(upload)
        } catch {
            upload.abort()
            throw error
        }
        let (digest, size) = try upload.complete(expected: nil)
        record(upload)
        return Descriptor(mediaType: mediaType, digest: digest, size: size)
    }

    private func record(_ upload: BlobUpload) {
        counters.withLock {
            $0.uploaded += 1
            $0.patches += upload.patches
            $0.uploadedBytes += upload.count
        }
    }

    public func putImage(manifestBytes: [UInt8], manifestDescriptor: Descriptor, image: ResolvedImage) throws {
        if let wanted = client.reference.digest, wanted != manifestDescriptor.digest {
            throw ArcaError(.invalidArgument, "\(name) names digest \(wanted.short)…, but the manifest written is \(manifestDescriptor.digest); push by tag instead")
        }
        manifest.withLock { $0 = (manifestBytes, manifestDescriptor) }
    }

    /// PUTs the manifest: the image becomes visible under its tag (or digest) only now.
    public func commit() throws {
        guard let (bytes, descriptor) = manifest.withLock({ $0 }) else {
            throw ArcaError(.invalidArgument, "\(name): nothing to commit (no image was written)")
        }
        let reference = client.reference.tag ?? descriptor.digest.description
        var body = ByteBufferAllocator().buffer(capacity: bytes.count)
        body.writeBytes(bytes)
        let response = try client.perform(.PUT, client.path("manifests/\(reference)"),
                                          headers: ["Content-Type": descriptor.mediaType, "Content-Length": "\(bytes.count)"], body: body)
        guard response.status.code == 201 else { throw client.failure(response, "the manifest \(reference)") }
        if let stored = response.header("Docker-Content-Digest"), stored != descriptor.digest.description {
            throw ArcaError(.integrity, "registry \(client.reference.registry) stored manifest \(descriptor.digest.short)… as \(stored.prefix(80))")
        }
        response.close()
    }
}
