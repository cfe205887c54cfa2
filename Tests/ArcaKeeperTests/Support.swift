import ArcaAttestation
import ArcaCore
import ArcaKeeper
import ArcaKeeperAPI
import ArcaKeeperClient
import ArcaTestSupport
import Crypto
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The two store implementations every store and server test runs against.
enum StoreKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgres
    var description: String { rawValue }
}

/// A clock tests move by hand (nonces expire without sleeping).
final class ManualClock: Sendable {
    private let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    func now() -> Date { current.withLock { $0 } }
    func advance(_ seconds: Double) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// One PostgreSQL cluster per test process, started by `scripts/postgres.sh` on first use and
/// stopped by its watchdog when the test process exits. Each test gets a database of its own.
actor PostgresCluster {
    static let shared = PostgresCluster()
    private var baseURL: String?
    private var counter = 0

    static var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    func url() throws -> String {
        if let baseURL { return baseURL }
        let dir = "/tmp/arca-keeper-pg-\(getpid())"
        let urlFile = "\(dir).url"
        let status = runShell("'\(Self.repositoryRoot)/scripts/postgres.sh' start '\(dir)' \(getpid()) > '\(urlFile)'")
        let output = (try? String(contentsOfFile: urlFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        try? FileManager.default.removeItem(atPath: urlFile)
        guard status == 0, output.hasPrefix("postgres://") else {
            throw ArcaError(.io, "scripts/postgres.sh start failed (status \(status))")
        }
        baseURL = output
        return output
    }

    /// A fresh, empty database; returns its URL.
    func freshDatabase() async throws -> String {
        let base = try url()
        counter += 1
        let name = "t\(getpid())_\(counter)_\(UInt32.random(in: 0...UInt32.max))"
        let client = PostgresClient(configuration: try Self.configuration(base), backgroundLogger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            try await client.query("CREATE DATABASE \(unescaped: name)")
            group.cancelAll()
        }
        guard let slash = base.lastIndex(of: "/") else { throw ArcaError(.invalidArgument, "bad url \(base)") }
        return base[..<slash] + "/" + name
    }

    static func configuration(_ url: String) throws -> PostgresClient.Configuration {
        guard let parsed = URL(string: url), let host = parsed.host, let user = parsed.user else {
            throw ArcaError(.invalidArgument, "bad url \(url)")
        }
        return .init(host: host, port: parsed.port ?? 5432, username: user, password: nil,
                     database: String(parsed.path.dropFirst()), tls: .disable)
    }
}

/// Runs a shell command and waits for it (posix_spawn + waitpid: Foundation's `Process.waitUntilExit`
/// can hang inside Swift concurrency on Linux). Returns the exit status.
func runShell(_ command: String) -> Int32 {
    var pid: pid_t = 0
    let args: [String] = ["/bin/bash", "-c", command]
    let argv: [UnsafeMutablePointer<CChar>?] = args.map { arg in arg.withCString { strdup($0) } } + [nil]
    defer { argv.forEach { free($0) } }
    guard posix_spawn(&pid, "/bin/bash", nil, nil, argv, environ) == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
}

/// Runs `body` with a migrated store of `kind` (the PostgreSQL pool runs for the duration).
func withStore<T: Sendable>(_ kind: StoreKind, databaseURL: String? = nil,
                            _ body: @escaping @Sendable (any KeeperStore, String) async throws -> T) async throws -> T {
    try await Fixture.withTemporaryDirectory { dir in
        var url: String? = nil
        if kind == .postgres {
            if let databaseURL { url = databaseURL } else { url = try await PostgresCluster.shared.freshDatabase() }
        }
        let configuration = KeeperService.Configuration(dataDirectory: dir, databaseURL: url)
        return try await KeeperService.withStore(configuration, logger: Logger(label: "test")) { store in
            try await body(store, dir)
        }
    }
}

/// A running keeper on an ephemeral loopback port.
struct RunningKeeper: Sendable {
    let keeper: Keeper
    let port: Int
    let pin: String
    let clock: ManualClock
    let metrics: KeeperMetrics
    var url: String { "https://127.0.0.1:\(port)" }

    func client(_ identity: TLSIdentity?) throws -> KeeperClient {
        try KeeperClient(url: url, pin: pin, identity: identity)
    }
}

/// Starts a keeper over `store` (HTTPS on 127.0.0.1:0), runs `body`, shuts it down gracefully.
func withKeeper<T: Sendable>(store: any KeeperStore, dir: String, masterKey: KeeperMasterKey? = nil, rateBurst: Int = 10_000,
                             _ body: @escaping @Sendable (RunningKeeper) async throws -> T) async throws -> T {
    let clock = ManualClock()
    let metrics = KeeperMetrics()
    let key = try masterKey ?? KeeperMasterKey.loadOrCreate(path: "\(dir)/master.key")
    let identity = try TLSIdentity.generate(commonName: "arca-keeper")
    let keeper = Keeper(store: store, masterKey: key, nonceLifetime: 60, clock: { clock.now() },
                        logger: Logger(label: "test"), observer: { metrics.observe($0) })
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let app = try KeeperServer.makeApplication(
        keeper: keeper, identity: identity, metrics: metrics,
        options: .init(host: "127.0.0.1", port: 0, rateBurst: rateBurst, ratePerSecond: Double(rateBurst)),
        logger: Logger(label: "test"), onRunning: { continuation.yield($0) })
    let group = ServiceGroup(configuration: .init(services: [.init(service: app)], logger: Logger(label: "test")))
    return try await withThrowingTaskGroup(of: T?.self) { tasks in
        tasks.addTask { try await group.run(); return nil }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw ArcaError(.io, "keeper did not start") }
        let running = RunningKeeper(keeper: keeper, port: port, pin: identity.pin, clock: clock, metrics: metrics)
        do {
            let result = try await body(running)
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

/// A `sim` runtime: platform key, ephemeral key, evidence for a nonce and measurement.
struct SimRuntime: Sendable {
    let platform = P256.Signing.PrivateKey()
    let ephemeral = P256.KeyAgreement.PrivateKey()

    var platformRecord: PlatformRecord {
        PlatformRecord(id: SimPlatform.keyID(of: platform.publicKey), publicKeyDER: Array(platform.publicKey.derRepresentation),
                       label: "test", addedAt: Date(timeIntervalSince1970: 1_800_000_000))
    }

    func evidence(nonce: String, measurement: String, boundMeasurement: String? = nil, bindKey: [UInt8]? = nil,
                  signer: String? = nil, version: UInt64? = nil) throws -> String {
        let nonceBytes = Hex.decode(nonce) ?? []
        let reportData = try ReportDataBinding.reportData(nonce: nonceBytes, ephemeralKey: bindKey ?? Array(ephemeral.publicKey.x963Representation),
                                            measurement: Hex.decode(boundMeasurement ?? measurement) ?? [])
        let producer = SimEvidenceProducer(privateKey: platform)
        return Data(try producer.produce(measurement: Hex.decode(measurement) ?? [], reportData: reportData,
                                         signer: signer, version: version)).base64EncodedString()
    }

    func request(session: String, service: String, nonce: String, evidence: String, kind: String = "sim") -> ReleaseRequest {
        ReleaseRequest(session: session, service: service, nonce: nonce, evidenceKind: kind, evidence: evidence,
                       ephemeralPublicKey: Hex.encode(ephemeral.publicKey.x963Representation))
    }
}

let measurementA = String(repeating: "a1", count: 32)
let measurementB = String(repeating: "b2", count: 32)
let shieldKey = String(repeating: "5e", count: 32)
let signerID = String(repeating: "c3", count: 32)

/// A valid session document for tests.
func sessionYAML(name: String = "shop/api", version: String = "1", predecessor: String? = nil,
                 allowed: [String] = ["sim"], signer: Bool = false) -> String {
    var yaml = """
        name: \(name)
        version: "\(version)"

        """
    if let predecessor { yaml += "predecessor: \(predecessor)\n" }
    yaml += """
        services:
          - name: web
            measurements: [\(measurementA)]
            command: [python3, /app/main.py]
            environment: {MODE: prod}
            workingDir: /app
            user: "1000:1000"
            allowHostEnv: [PORT]
            secrets: [db_password, tls_key]
            volumes: [data]

        """
    if signer {
        yaml += """
              - name: worker
                signer: {signer: \(signerID), minimumVersion: 5}

            """
    }
    yaml += """
        secrets:
          - {name: db_password, kind: ascii, size: 24, env: DB_PASSWORD}
          - {name: tls_key, kind: binary, size: 32, file: /run/secrets/tls.key}
        volumes:
          - {name: data, path: /var/lib/app}
        security:
          allowedEvidence: [\(allowed.joined(separator: ", "))]
        keys:
          app: \(shieldKey)

        """
    return yaml
}
