import ArcaArchive
import ArcaCore
import ArcaOCI
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// `--format text|json`: how results are printed on stdout.
public enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case text, json
}

/// Flags shared by every command that reads an image.
public struct ImageOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The platform to pick from a multi-platform image, as OS/ARCH[/VARIANT].", valueName: "platform"))
    public var platform: String = "linux/amd64"

    public init() {}

    public func resolvedPlatform() throws -> Platform { try Platform(parsing: platform) }
}

extension LayerCompression: ExpressibleByArgument {}

/// Parses an image reference argument, with the accepted forms in the error.
func parseReference(_ text: String) throws -> ImageReference {
    try ImageReference(parsing: text)
}

/// Writes a line to standard error.
func printError(_ text: String) {
    var stderr = StandardError()
    print(text, to: &stderr)
}

/// Standard error, written with one `write(2)` per string so lines from threads do not interleave.
struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        let bytes = Array(string.utf8)
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { return }
                offset += n
            }
        }
    }
}
