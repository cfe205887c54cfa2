import ArcaArchive
import ArcaCore
import ArcaOCI
import ArgumentParser

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show an image's manifest, config and layers (reading and verifying every layer).",
        discussion: """
            Every layer is read to its end: its digest, size and diff_id are checked and its tar \
            entries counted, so inspect also proves the image is intact. With --tree, the layers \
            are applied in order (whiteouts, hardlinks) and the resulting root filesystem is listed.

            Image references:
            \(ImageReference.acceptedForms)
            """)

    @Argument(help: "The image to inspect.") var reference: String
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text
    @Flag(help: "Also list the flattened root filesystem.") var tree = false
    @OptionGroup var image: ImageOptions
    @OptionGroup(title: "Registry options") var registry: RegistryFlags

    func run() throws {
        let store = try Stores.source(parseReference(reference), registry: registry.options())
        let resolved = try ImageResolver(platform: image.resolvedPlatform()).resolve(store)
        let progress: any ProgressObserver = format == .json ? SilentProgress() : TerminalProgress()
        let report = try ImageInspector(scanner: LayerScanner(progress: progress)).inspect(resolved, from: store, withTree: tree)
        switch format {
        case .json: print(String(decoding: try report.jsonBytes(), as: UTF8.self))
        case .text: print(report.text(), terminator: "")
        }
    }
}
