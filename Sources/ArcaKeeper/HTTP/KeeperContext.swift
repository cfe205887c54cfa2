import ArcaKeeperAPI
import Hummingbird
import NIOCore

/// The per-request context: Hummingbird's core storage, the connection (for the TLS client
/// certificate and the remote address) and the client key ID the identity middleware found.
public struct KeeperContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    /// SHA-256 (hex) of the client certificate's SubjectPublicKeyInfo; nil without a client certificate.
    public var clientKeyID: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
        clientKeyID = nil
    }

    public var maxUploadSize: Int { KeeperAPI.maximumBodySize }

    /// Who the caller is, for the audit log and the rate limiter: the key ID or the remote IP.
    public var clientLabel: String {
        if let clientKeyID { return "key:\(clientKeyID)" }
        return "ip:\(channel.remoteAddress?.ipAddress ?? "unknown")"
    }
}
