import ArcaArchive
import ArcaCore
import ArcaOCI
import ArgumentParser

struct CopyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy an image between stores, verifying every blob and layer.",
        discussion: """
            Every blob's digest and size and every layer's diff_id are checked while copying; a
            mismatch stops the copy and leaves the destination's existing images untouched.
            Layers are kept as they are where the destination accepts them, unless --compression
            asks for another compression (docker-archive always stores uncompressed layers).

            Image references:
            \(ImageReference.acceptedForms)
            """)

    @Argument(help: "The image to read.") var source: String
    @Argument(help: "Where to write it.") var destination: String
    @Option(help: "Layer compression to write: gzip, zstd or none (default: keep; gzip where compression is needed).")
    var compression: LayerCompression?
    @Option(help: "Compression level: gzip 1-9 (default 1), zstd 1-19 (default 3).")
    var compressionLevel: Int32?
    @OptionGroup var image: ImageOptions
    @OptionGroup(title: "Registry options") var registry: CopyRegistryFlags
    @Flag(help: ArgumentHelp("Also decompress layers that pass through unchanged to check their diff_id now.",
                             discussion: "Every blob's digest and size are always checked; a layer's diff_id is checked wherever it is decompressed (recompression, seal, run). Proven layers are remembered in ~/.cache/arca/verified-layers."))
    var verifyDiffIds = false
    @Flag(help: "Print nothing on stderr.") var quiet = false

    func validate() throws {
        if let compressionLevel, !(1...19).contains(compressionLevel) || (compression == .gzip && compressionLevel > 9) {
            throw ValidationError("--compression-level \(compressionLevel) is out of range: gzip takes 1-9, zstd 1-19")
        }
    }

    func run() throws {
        let from = try parseReference(source)
        let to = try parseReference(destination)
        let store = try Stores.source(from, registry: registry.sourceOptions())
        let resolved = try ImageResolver(platform: image.resolvedPlatform()).resolve(store)
        let target = try Stores.destination(to, registry: registry.destinationOptions(), from: from)
        let progress: any ProgressObserver = quiet ? SilentProgress() : TerminalProgress()
        let copier = ImageCopier(compression: compression, compressionLevel: compressionLevel, progress: progress,
                                 checkPassThroughDiffIDs: verifyDiffIds, verifiedLayers: verifyDiffIds ? .standard() : nil)
        let written = try copier.copy(resolved, from: store, to: target)
        print(written.digest)
    }
}
