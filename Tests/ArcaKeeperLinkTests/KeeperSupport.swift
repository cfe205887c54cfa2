import ArcaAttestation
import ArcaCore
import ArcaKeeper
import ArcaKeeperAPI
import ArcaKeeperClient
import ArcaTestSupport
import Crypto
import Foundation
import Logging
import ServiceLifecycle

/// A real keeper (SQLite in a temp data dir, HTTPS on an ephemeral loopback port) with one
/// session `shop/api` and, unless told otherwise, a registered `sim` platform key.
struct LinkFixture: Sendable {
    let url: String
    let pin: String
    let port: Int
    let keeper: Keeper
    let metrics: KeeperMetrics
    /// The platform key file (PEM, 0600), as the host would hand it to the container.
    let platformKeyPath: String
    let platform: P256.Signing.PrivateKey
}

let measurementA = Array(repeating: UInt8(0xa1), count: 32)
let measurementB = Array(repeating: UInt8(0xb2), count: 32)
let shieldKey = String(repeating: "5e", count: 32)

func sessionYAML(allowed: [String]) -> String {
    """
    name: shop/api
    version: "1"
    services:
      - name: web
        measurements: [\(Hex.encode(measurementA))]
        command: [python3, /app/main.py]
        environment: {MODE: prod}
        workingDir: /app
        user: "1000:1000"
        secrets: [db_password]
    secrets:
      - {name: db_password, kind: ascii, size: 24, env: DB_PASSWORD}
    security:
      allowedEvidence: [\(allowed.joined(separator: ", "))]
    keys:
      app: \(shieldKey)

    """
}

/// Starts the keeper, creates the session, runs `body`, shuts the keeper down.
func withLinkKeeper<T: Sendable>(allowed: [String] = ["sim"], registerPlatform: Bool = true,
                                 _ body: @escaping @Sendable (LinkFixture) async throws -> T) async throws -> T {
    try await Fixture.withTemporaryDirectory { dir in
        let logger = Logger(label: "test")
        let configuration = KeeperService.Configuration(dataDirectory: dir)
        return try await KeeperService.withStore(configuration, logger: logger) { store in
            let identity = try TLSIdentity.generate(commonName: "arca-keeper")
            let keeper = Keeper(store: store, masterKey: try KeeperMasterKey.loadOrCreate(path: "\(dir)/master.key"), logger: logger)
            let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
            let metrics = KeeperMetrics()
            let app = try KeeperServer.makeApplication(
                keeper: keeper, identity: identity, metrics: metrics,
                options: .init(host: "127.0.0.1", port: 0, rateBurst: 10_000, ratePerSecond: 10_000),
                logger: logger, onRunning: { continuation.yield($0) })
            let group = ServiceGroup(configuration: .init(services: [.init(service: app)], logger: logger))
            return try await withThrowingTaskGroup(of: T?.self) { tasks in
                tasks.addTask { try await group.run(); return nil }
                do {
                    var iterator = ports.makeAsyncIterator()
                    guard let port = await iterator.next() else { throw ArcaError(.io, "keeper did not start") }
                    let url = "https://127.0.0.1:\(port)"
                    let owner = try TLSIdentity.generate(commonName: "owner")
                    _ = try await KeeperClient(url: url, pin: identity.pin, identity: owner).createSession(document: sessionYAML(allowed: allowed))
                    let platform = P256.Signing.PrivateKey()
                    if registerPlatform {
                        try await store.addPlatform(PlatformRecord(
                            id: SimPlatform.keyID(of: platform.publicKey), publicKeyDER: Array(platform.publicKey.derRepresentation),
                            label: "test", addedAt: Date()))
                    }
                    let keyPath = "\(dir)/platform.key"
                    try FileSystem.writeAtomically(Array(platform.pemRepresentation.utf8), to: keyPath, permissions: [.ownerReadWrite])
                    let result = try await body(LinkFixture(url: url, pin: identity.pin, port: port, keeper: keeper, metrics: metrics,
                                                            platformKeyPath: keyPath, platform: platform))
                    await group.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                    return result
                } catch {
                    await group.triggerGracefulShutdown()
                    try? await tasks.waitForAll()
                    throw error
                }
            }
        }
    }
}

/// Runs blocking code (the keeper link is synchronous, as in `arca-init`) on its own thread, so
/// it never holds one of the few cooperative threads the in-process keeper needs.
func offThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}

/// Runs `body`, which must throw an `ArcaError` with `code`; returns it.
func expectArcaError(_ code: ArcaError.Code, _ body: () async throws -> Void) async throws -> ArcaError {
    do {
        try await body()
    } catch let error as ArcaError {
        guard error.code == code else {
            throw ArcaError(.invalidArgument, "expected error code \(code), got \(error.code): \(error)")
        }
        return error
    }
    throw ArcaError(.invalidArgument, "expected error code \(code), but the call succeeded")
}
