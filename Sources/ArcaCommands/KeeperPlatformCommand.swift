import ArcaAttestation
import ArcaCore
import ArcaKeeper
import ArgumentParser
import Crypto
import FoundationEssentials
import Logging

/// `arca keeper platform add|list`: manage the `sim` platform keys, offline against the store.
struct KeeperPlatformCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "platform",
        abstract: "Register or list the sim platform keys the keeper accepts evidence from.",
        subcommands: [KeeperPlatformAddCommand.self, KeeperPlatformListCommand.self])
}

struct KeeperPlatformAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Register a sim platform public key (PEM). Sim evidence gives no hardware protection.")

    @Argument(help: "The platform's P-256 public key, PEM (SubjectPublicKeyInfo).")
    var publicKey: String

    @Option(name: .long, help: "A label for the platform (a host name).")
    var label: String = ""

    @OptionGroup var store: KeeperStoreOptions

    func run() async throws {
        let text = String(decoding: try FileSystem.readFile(publicKey, limit: 64 * 1024), as: UTF8.self)
        let key: P256.Signing.PublicKey
        do {
            key = try P256.Signing.PublicKey(pemRepresentation: text)
        } catch {
            throw ArcaError(.invalidFormat, "\(publicKey) is not a p-256 public key in pem form; export it with `openssl ec -pubout`")
        }
        let record = PlatformRecord(id: SimPlatform.keyID(of: key), publicKeyDER: Array(key.derRepresentation),
                                    label: String(label.prefix(200)), addedAt: Date())
        let configuration = KeeperService.Configuration(dataDirectory: store.data, databaseURL: store.database)
        try await KeeperService.withStore(configuration, logger: Logger(label: "arca.keeper")) { store in
            try await store.addPlatform(record)
            try await store.appendAudit(AuditEvent(time: Date(), action: "platform.add", outcome: "ok",
                                                   client: "local-admin", detail: "platform=\(record.id) label=\(record.label)"))
        }
        print("registered sim platform \(record.id)")
    }
}

struct KeeperPlatformListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the registered sim platform keys.")

    @OptionGroup var store: KeeperStoreOptions

    func run() async throws {
        let configuration = KeeperService.Configuration(dataDirectory: store.data, databaseURL: store.database)
        let platforms = try await KeeperService.withStore(configuration, logger: Logger(label: "arca.keeper")) { store in
            try await store.platforms()
        }
        for platform in platforms { print("\(platform.id)  \(platform.label)") }
    }
}
