import ArcaArchive
import ArcaCore

/// Media types of the OCI image spec and of Docker's image manifest schema 2.
public enum MediaType {
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let ociLayerNondistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar"
    public static let ociLayerNondistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    public static let ociLayerNondistributableZstd = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayer = "application/vnd.docker.image.rootfs.diff.tar"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

    public static func isIndex(_ type: String) -> Bool { type == ociIndex || type == dockerManifestList }
    public static func isManifest(_ type: String) -> Bool { type == ociManifest || type == dockerManifest }
    public static func isConfig(_ type: String) -> Bool { type == ociConfig || type == dockerConfig }

    /// The compression of a layer media type; throws `unsupported` for anything that is not a layer
    /// Arca can read (for example an encrypted `+encrypted` ocicrypt layer).
    public static func layerCompression(_ type: String) throws -> LayerCompression {
        switch type {
        case ociLayer, ociLayerNondistributable, dockerLayer: .none
        case ociLayerGzip, ociLayerNondistributableGzip, dockerLayerGzip, dockerForeignLayerGzip: .gzip
        case ociLayerZstd, ociLayerNondistributableZstd: .zstd
        default:
            throw ArcaError(.unsupported, "layer media type \"\(type.prefix(120))\" is not supported (expected an OCI or Docker tar layer, uncompressed, gzip or zstd)")
        }
    }

    /// The OCI layer media type for a compression.
    public static func ociLayer(_ compression: LayerCompression) -> String {
        switch compression {
        case .none: ociLayer
        case .gzip: ociLayerGzip
        case .zstd: ociLayerZstd
        }
    }
}
