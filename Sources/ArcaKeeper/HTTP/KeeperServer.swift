import ArcaCore
import ArcaKeeperAPI
import FoundationEssentials
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle

/// Builds the keeper's HTTPS application: TLS 1.3 only with the keeper's self-signed identity,
/// optional client certificates (a client's key is its identity), the middlewares and routes.
public enum KeeperServer {
    public struct Options: Sendable {
        public var host: String
        public var port: Int
        /// Requests per client: burst size and sustained rate.
        public var rateBurst: Int
        public var ratePerSecond: Double
        public init(host: String = "127.0.0.1", port: Int = 8443, rateBurst: Int = 100, ratePerSecond: Double = 50) {
            self.host = host
            self.port = port
            self.rateBurst = rateBurst
            self.ratePerSecond = ratePerSecond
        }
    }

    /// The application, ready to run as a `Service` (in a `ServiceGroup`, or via `runService()`).
    /// `onRunning` receives the bound port (useful with port 0).
    public static func makeApplication(keeper: Keeper, identity: TLSIdentity, metrics: KeeperMetrics, options: Options,
                                       logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        throws -> some ApplicationProtocol {
        let router = Router(context: KeeperContext.self)
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        router.add(middleware: ClientIdentityMiddleware())
        router.add(middleware: RateLimitMiddleware(
            limiter: RateLimiter(burst: options.rateBurst, perSecond: options.ratePerSecond, clock: keeper.clock), metrics: metrics))
        KeeperRoutes(keeper: keeper, metrics: metrics).register(on: router)

        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(identity.certificatePEM.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.privateKeyPEM.utf8), format: .pem)))
        tls.minimumTLSVersion = .tlsv13
        tls.maximumTLSVersion = .tlsv13
        // Ask for a client certificate but do not require one (runtimes attest instead). Any
        // self-signed client certificate is accepted: ownership is by key, and TLS proved possession.
        tls.certificateVerification = .optionalVerification
        let channel = TLSChannelConfiguration(tlsConfiguration: tls, customVerificationCallback: { _, promise in
            promise.succeed(.certificateVerified)
        })
        return Application(
            router: router,
            server: try .tls(.http1(), configuration: channel),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "arca-keeper"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? options.port) },
            logger: logger)
    }
}
