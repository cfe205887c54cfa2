import ArcaCore
import ArcaOCI
import FoundationEssentials
import NIOHTTP1
import Synchronization

/// Reads an image from a registry: the manifest or index the reference names (media types
/// negotiated with `Accept`), then child manifests and blobs by digest, streamed.
public final class RegistrySource: ImageSource {
    public let name: String
    let client: RegistryClient
    private let root = Mutex<(descriptor: Descriptor, bytes: [UInt8])?>(nil)

    /// The manifest and index media types Arca reads, most preferred first.
    static let acceptedManifestTypes = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest]

    public init(_ reference: RegistryReference, options: RegistryOptions) throws {
        self.name = "docker://\(reference)"
        self.client = try RegistryClient(reference, options: options, push: false)
    }

    public func rootDescriptor() throws -> Descriptor {
        if let root = root.withLock({ $0 }) { return root.descriptor }
        let reference = client.reference
        let (descriptor, bytes) = try fetchManifest(reference.digest?.description ?? reference.tag ?? "latest", expected: reference.digest)
        root.withLock { $0 = (descriptor, bytes) }
        return descriptor
    }

    public func openRawBlob(_ descriptor: Descriptor) throws -> any ByteSource {
        if let root = root.withLock({ $0 }), root.descriptor.digest == descriptor.digest {
            return MemorySource(root.bytes)
        }
        if MediaType.isIndex(descriptor.mediaType) || MediaType.isManifest(descriptor.mediaType) {
            return MemorySource(try fetchManifest(descriptor.digest.description, expected: descriptor.digest).1)
        }
        let response = try client.perform(.GET, client.path("blobs/\(descriptor.digest)"))
        guard response.status.code == 200 else {
            throw client.failure(response, "the download of blob \(descriptor.digest.short)… of \(client.reference.repository)")
        }
        return response
    }

    /// GETs a manifest by tag or digest; its digest is the SHA-256 of the bytes received, checked
    /// against the `Docker-Content-Digest` header and against `expected`.
    func fetchManifest(_ tagOrDigest: String, expected: Digest?) throws -> (Descriptor, [UInt8]) {
        let headers = HTTPHeaders([("Accept", Self.acceptedManifestTypes.joined(separator: ", "))])
        let response = try client.perform(.GET, client.path("manifests/\(tagOrDigest)"), headers: headers)
        guard response.status.code == 200 else {
            throw client.failure(response, "the manifest \(tagOrDigest.prefix(80)) of \(client.reference.repository)")
        }
        let contentType = response.header("Content-Type")?.split(separator: ";").first.map { String($0.filter { $0 != " " && $0 != "\t" }) }
        let announced = response.header("Docker-Content-Digest")
        let bytes = try response.readBody(limit: CanonicalJSON.maxDocumentSize, what: "manifest \(tagOrDigest.prefix(80)) of \(client.reference)")
        let digest = Digest.sha256(of: bytes)
        if let expected, expected != digest {
            throw ArcaError(.integrity, "registry \(client.reference.registry) sent a manifest for \(expected.short)… whose content is \(digest); nothing was kept")
        }
        if let announced, announced.hasPrefix("sha256:"), announced != digest.description {
            throw ArcaError(.integrity, "registry \(client.reference.registry) says manifest \(tagOrDigest.prefix(80)) is \(announced.prefix(80)), but its content is \(digest)")
        }
        let mediaType = try Self.mediaType(contentType: contentType, bytes: bytes, what: "\(name) (\(tagOrDigest.prefix(80)))")
        return (Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count)), bytes)
    }

    /// The media type of a manifest: the Content-Type when it is one Arca reads, else the
    /// document's own `mediaType`, else its shape (an OCI document may omit `mediaType`).
    static func mediaType(contentType: String?, bytes: [UInt8], what: String) throws -> String {
        if let contentType, acceptedManifestTypes.contains(contentType) { return contentType }
        struct Shape: Decodable {
            var schemaVersion: Int?
            var mediaType: String?
            var manifests: [Descriptor]?
            var layers: [Descriptor]?
        }
        guard let shape = try? JSONDecoder().decode(Shape.self, from: Data(bytes)) else {
            throw ArcaError(.invalidFormat, "\(what) is not a JSON image manifest or index (Content-Type \(contentType?.prefix(80) ?? "missing"))")
        }
        if let declared = shape.mediaType, acceptedManifestTypes.contains(declared) { return declared }
        if shape.schemaVersion == 1 || contentType?.contains("v1+") == true {
            throw ArcaError(.unsupported, "\(what) is a Docker schema 1 manifest, which Arca does not read; push the image again with a current tool")
        }
        if shape.manifests != nil && shape.layers == nil { return MediaType.ociIndex }
        if shape.layers != nil && shape.manifests == nil { return MediaType.ociManifest }
        throw ArcaError(.unsupported, "\(what) has media type \(shape.mediaType?.prefix(80) ?? contentType?.prefix(80) ?? "none"), which is neither an image manifest nor an index")
    }
}
