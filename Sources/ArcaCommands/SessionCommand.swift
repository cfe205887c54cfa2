import ArcaKeeperAPI
import ArcaKeeperClient
import ArgumentParser

/// `arca session …`: manage sessions (policies, keys, secrets) on a keeper.
struct SessionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session",
        abstract: "Create, update, show, list and delete sessions on a keeper.",
        subcommands: [SessionCreateCommand.self, SessionUpdateCommand.self, SessionShowCommand.self,
                      SessionListCommand.self, SessionDeleteCommand.self])
}

/// The keeper to talk to, and how to recognise it.
struct SessionKeeperOptions: ParsableArguments {
    @Option(name: .long, help: "The keeper, https://HOST:PORT.")
    var keeper: String

    @Option(name: .long, help: "The keeper's public-key fingerprint (SHA-256, printed by `arca keeper serve`).")
    var keeperPin: String

    /// A client with this user's identity (created under $ARCA_HOME or ~/.config/arca on first use).
    func client() throws -> KeeperClient {
        try KeeperClient(url: keeper, pin: keeperPin, identity: ClientIdentityStore.loadOrCreate())
    }
}
