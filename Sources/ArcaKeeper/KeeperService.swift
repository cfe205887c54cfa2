import ArcaAttestation
import ArcaCore
import ArcaKeeperAPI
import FoundationEssentials
import Hummingbird
import Logging
import ServiceLifecycle

/// Runs a keeper from a data directory: opens the store (SQLite in the data directory, or
/// PostgreSQL), migrates it, loads or creates the master key and TLS identity, and serves until
/// SIGTERM/SIGINT (graceful shutdown through a `ServiceGroup`).
public enum KeeperService {
    public struct Configuration: Sendable {
        public var dataDirectory: String
        /// `postgres://user[:password]@host[:port]/database`; nil for SQLite in the data directory.
        public var databaseURL: String?
        public var server: KeeperServer.Options
        public var nonceLifetime: Double
        /// Hardware evidence verifiers (`sim` is built in).
        public var verifiers: [any EvidenceVerifier]
        public init(dataDirectory: String, databaseURL: String? = nil, server: KeeperServer.Options = .init(), nonceLifetime: Double = 60,
                    verifiers: [any EvidenceVerifier] = []) {
            self.dataDirectory = dataDirectory
            self.databaseURL = databaseURL
            self.server = server
            self.nonceLifetime = nonceLifetime
            self.verifiers = verifiers
        }
    }

    /// Opens the configured store and migrates it. The returned services (the PostgreSQL pool)
    /// must run alongside the server.
    public static func openStore(_ configuration: Configuration, logger: Logger) async throws -> (any KeeperStore, [any Service]) {
        if let url = configuration.databaseURL {
            let store = try PostgresStore(url: url, logger: logger)
            return (store, [store])
        }
        try FileSystem.makeDirectories(configuration.dataDirectory, permissions: 0o700)
        let store = try SQLiteStore(path: "\(configuration.dataDirectory)/keeper.sqlite")
        return (store, [])
    }

    /// Serves until a termination signal. `onReady` gets the TLS pin and the bound port.
    public static func run(_ configuration: Configuration, logger: Logger,
                           onReady: @escaping @Sendable (_ pin: String, _ created: Bool, _ port: Int) async -> Void) async throws {
        try FileSystem.makeDirectories(configuration.dataDirectory, permissions: 0o700)
        let masterKey = try KeeperMasterKey.loadOrCreate(path: "\(configuration.dataDirectory)/master.key")
        let (identity, created) = try TLSIdentity.loadOrCreate(directory: configuration.dataDirectory, name: "tls",
                                                               commonName: "arca-keeper")
        // SQLite: this process must be the file's only keeper (see `ServeLock`); held until `run` returns.
        let lock = configuration.databaseURL == nil ? try ServeLock(directory: configuration.dataDirectory) : nil
        defer { withExtendedLifetime(lock) {} }
        let (store, storeServices) = try await openStore(configuration, logger: logger)
        if let sqlite = store as? SQLiteStore {
            // Nonces do not survive a restart (see `SQLiteStore.discardAllNonces`).
            try await sqlite.migrate()
            try await sqlite.discardAllNonces()
        }
        let metrics = KeeperMetrics()
        let keeper = Keeper(store: store, masterKey: masterKey, verifiers: configuration.verifiers,
                            nonceLifetime: configuration.nonceLifetime, logger: logger,
                            observer: { metrics.observe($0) })
        let app = try KeeperServer.makeApplication(
            keeper: keeper, identity: identity, metrics: metrics, options: configuration.server, logger: logger,
            onRunning: { port in await onReady(identity.pin, created, port) })
        let migrate = MigrationService(store: store, next: app)
        let group = ServiceGroup(
            configuration: .init(services: storeServices.map { .init(service: $0) } + [.init(service: migrate)],
                                 gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// Migrates the store (once the PostgreSQL pool runs) and then runs the HTTP application.
struct MigrationService<Next: Service>: Service {
    let store: any KeeperStore
    let next: Next

    func run() async throws {
        try await store.migrate()
        try await next.run()
    }
}

extension KeeperService {
    /// Opens and migrates the configured store, runs `body` with it, then closes it (for offline
    /// admin commands such as `arca keeper platform add`).
    public static func withStore<T: Sendable>(_ configuration: Configuration, logger: Logger,
                                              _ body: @escaping @Sendable (any KeeperStore) async throws -> T) async throws -> T {
        let (store, services) = try await openStore(configuration, logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            for service in services { group.addTask { try await service.run(); return nil } }
            try await store.migrate()
            let result = try await body(store)
            group.cancelAll()
            return result
        }
    }
}
