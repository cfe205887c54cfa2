import ArcaMeasurement
import ArcaCore
import ArcaOCI
import ArcaSeal
import ArgumentParser

struct MeasureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "measure",
        abstract: "Recompute a sealed image's measurement from the image alone (no keys, no hardware).",
        discussion: """
            Reads the measured config and the shield index from the image's last layer, checks \
            that they name exactly this image's layers, runtime and index, and prints \
            SHA-256(domain tag ‖ runtime digest ‖ canonical measured config). The same image \
            gives the same measurement on every machine; it is what the keeper must accept.
            """)

    @Argument(help: "The sealed image.") var reference: String
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text
    @OptionGroup var image: ImageOptions
    @OptionGroup(title: "Registry options") var registry: RegistryFlags

    func run() throws {
        let store = try Stores.source(parseReference(reference), registry: registry.options())
        let resolved = try ImageResolver(platform: image.resolvedPlatform()).resolve(store)
        let sealed = try SealedImageReader().read(resolved, from: store)
        switch format {
        case .text: print(sealed.measurement)
        case .json:
            print(String(decoding: try CanonicalJSON.encode(MeasureReport(measurement: sealed.measurement, measuredConfig: sealed.config)),
                         as: UTF8.self))
        }
    }
}

struct MeasureReport: Codable {
    var measurement: String
    var measuredConfig: MeasuredConfig
}
