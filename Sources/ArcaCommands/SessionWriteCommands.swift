import ArcaCore
import ArcaSession
import ArgumentParser

/// `arca session create FILE`: the caller's client key becomes the owner.
struct SessionCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a session from a YAML file.")

    @Argument(help: "The session YAML file.") var file: String
    @OptionGroup var keeper: SessionKeeperOptions

    func run() async throws {
        let document = try readSessionFile(file)
        let result = try await keeper.client().createSession(document: document)
        print("created \(result.name) version \(result.version) hash \(result.hash)")
    }
}

/// `arca session update FILE`: the file must name the current version's hash as `predecessor`.
struct SessionUpdateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update", abstract: "Replace a session; the file's predecessor must be the current hash.")

    @Argument(help: "The session YAML file.") var file: String
    @OptionGroup var keeper: SessionKeeperOptions

    func run() async throws {
        let document = try readSessionFile(file)
        let session = try SessionDocument.parse(document)
        let result = try await keeper.client().updateSession(name: session.name, document: document)
        print("updated \(result.name) to version \(result.version) hash \(result.hash)")
    }
}

/// Reads and validates a session file locally, so mistakes show before anything is sent.
func readSessionFile(_ path: String) throws -> String {
    let bytes = try FileSystem.readFile(path, limit: SessionDocument.maximumSize)
    guard let text = String(validating: bytes, as: UTF8.self) else {
        throw ArcaError(.invalidFormat, "session file \(path) is not utf-8 text")
    }
    _ = try SessionDocument.parse(text)
    return text
}
