import ArcaArchive
import ArcaCore

/// An image store Arca reads from: an OCI layout, a docker-archive, or a registry.
public protocol ImageSource: AnyObject {
    /// The reference as the user wrote it, for messages.
    var name: String { get }
    /// The descriptor of the manifest or index the reference names.
    func rootDescriptor() throws -> Descriptor
    /// The blob's bytes as stored, unverified: use `openVerifiedBlob`.
    func openRawBlob(_ descriptor: Descriptor) throws -> any ByteSource
}

/// An image store Arca writes to.
public protocol ImageDestination: AnyObject {
    var name: String { get }
    /// Layer compressions this destination stores; the first is what it prefers.
    var acceptedLayerCompressions: [LayerCompression] { get }
    /// True when the destination holds this blob already, so it need not be written again.
    func hasBlob(_ descriptor: Descriptor) throws -> Bool
    /// Stores a blob whose descriptor is known; the source must match it (checked).
    func putBlob(_ descriptor: Descriptor, from source: any ByteSource) throws
    /// Stores a blob whose digest is only known once written (for example a layer being compressed):
    /// `write` writes it into the sink given; the result describes what was stored.
    func putBlob(mediaType: String, write: (any ByteSink) throws -> Void) throws -> Descriptor
    /// Records the image: its manifest (already serialized), and its config and layers, which were put before.
    func putImage(manifestBytes: [UInt8], manifestDescriptor: Descriptor, image: ResolvedImage) throws
    /// Makes everything written visible; an uncommitted destination leaves nothing half-written behind.
    func commit() throws
}

extension ImageSource {
    /// A stream of the blob that checks its size and digest as it reaches the end.
    public func openVerifiedBlob(_ descriptor: Descriptor, label: String) throws -> VerifiedBlobSource {
        VerifiedBlobSource(try openRawBlob(descriptor), expected: descriptor, label: label)
    }

    /// Reads a small blob (manifest, index, config) whole, verified.
    public func readSmallBlob(_ descriptor: Descriptor, label: String) throws -> [UInt8] {
        try openVerifiedBlob(descriptor, label: label).readVerified(limit: CanonicalJSON.maxDocumentSize)
    }
}
