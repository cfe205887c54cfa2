import ArcaCore
import ArcaSession
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

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
    let session = try SessionDocument.parse(text)
    // Shield keys and given secrets are as sensitive as the data they protect.
    var info = stat()
    let holdsKeys = !session.keys.isEmpty || session.secrets.contains { $0.value != nil }
    if holdsKeys, stat(path, &info) == 0, info.st_mode & 0o077 != 0 {
        let message = "warning: \(path) holds keys or secrets but is readable by group or others; chmod 600 it\n"
        var bytes = Array(message.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
    return text
}
