import ArcaCore
import ArcaCrypto
import ArcaOCI
import ArcaSeal
import ArcaSession
import ArgumentParser

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every chunk of a sealed image against its index and its measurement.",
        discussion: """
            Without a session, every authenticated chunk is checked (SHA-256) against the files \
            of the image's layers, and the measured config against the image. With --session \
            (the file `arca seal --session-out` wrote), every encrypted chunk is decrypted and \
            checked too. Exits 0 only if everything holds; otherwise names the first bad file \
            and chunk.
            """)

    @Argument(help: "The sealed image.") var reference: String
    @Option(help: "The session file holding the image's master key.") var session: String?
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text
    @OptionGroup var image: ImageOptions
    @OptionGroup(title: "Registry options") var registry: RegistryFlags

    func run() throws {
        let store = try Stores.source(parseReference(reference), registry: registry.options())
        let resolved = try ImageResolver(platform: image.resolvedPlatform()).resolve(store)
        let (sealed, report) = try SealedImageReader().verify(resolved, from: store, masterKey: try sessionKey())
        let result = VerifyResult(measurement: sealed.measurement, entries: report.entries,
                                  authenticatedChunks: report.authenticatedChunks, encryptedChunks: report.encryptedChunks,
                                  encryptedChecked: session != nil)
        switch format {
        case .json: print(String(decoding: try CanonicalJSON.encode(result), as: UTF8.self))
        case .text:
            print("verified: \(report.entries) entries, \(report.authenticatedChunks) authenticated chunks, "
                + (session != nil ? "\(report.encryptedChunks) encrypted chunks" : "encrypted chunks not checked (no --session)"))
            print("measurement \(sealed.measurement)")
        }
    }

    private func sessionKey() throws -> MasterKey? {
        guard let session else { return nil }
        let document = try SessionDocument.parse(String(decoding: FileSystem.readFile(session, limit: 1 << 20), as: UTF8.self))
        guard let hex = document.keys["main"] ?? (document.keys.count == 1 ? document.keys.values.first : nil) else {
            throw ArcaError(.notFound, "\(session) holds no image key (keys.main)")
        }
        guard let bytes = Hex.decode(hex) else { throw ArcaError(.invalidFormat, "\(session): keys.main is not hex") }
        return try MasterKey(bytes: bytes)
    }
}

struct VerifyResult: Codable {
    var measurement: String
    var entries: Int
    var authenticatedChunks: UInt64
    var encryptedChunks: UInt64
    var encryptedChecked: Bool
}
