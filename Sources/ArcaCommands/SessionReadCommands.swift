import ArcaCore
import ArcaSession
import ArgumentParser

/// `arca session show NAME`: the owner's view, with generated secrets and keys.
struct SessionShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show a session you own (as YAML, including its secrets).")

    @Argument(help: "The session name, team/app.") var name: String
    @Option(name: .long, help: "yaml or json.") var format: String = "yaml"
    @OptionGroup var keeper: SessionKeeperOptions

    func run() async throws {
        let shown = try await keeper.client().showSession(name: name)
        print("# \(shown.name) version \(shown.version) hash \(shown.hash) owner \(shown.owner)")
        if format == "json" {
            print(shown.session)
        } else {
            print(try SessionDocument.yaml(SessionDocument.decodeJSON(Array(shown.session.utf8))), terminator: "")
        }
    }
}

struct SessionListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the sessions you own.")

    @OptionGroup var keeper: SessionKeeperOptions

    func run() async throws {
        for session in try await keeper.client().listSessions() {
            print("\(session.name)\t\(session.version)\t\(session.hash)")
        }
    }
}

struct SessionDeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a session you own.")

    @Argument(help: "The session name, team/app.") var name: String
    @OptionGroup var keeper: SessionKeeperOptions

    func run() async throws {
        try await keeper.client().deleteSession(name: name)
        print("deleted \(name)")
    }
}
