import ArgumentParser

/// `arca keeper …`: run and administer the configuration and attestation service.
struct KeeperCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keeper",
        abstract: "Run and administer the keeper (sessions, attestation, key release).",
        subcommands: [KeeperServeCommand.self, KeeperPlatformCommand.self, KeeperCollateralCommand.self])
}

/// Where a keeper keeps its state: `--data DIR` (SQLite, key, TLS identity) and optionally `--database`.
struct KeeperStoreOptions: ParsableArguments {
    @Option(name: .long, help: "Data directory: master key, TLS identity and (without --database) the SQLite store.")
    var data: String = "/var/lib/arca-keeper"

    @Option(name: .long, help: "postgres://user[:password]@host[:port]/database, for several replicas on one database.")
    var database: String?
}
