import ArcaCore

/// What the command line asks `arca-init` to do.
public enum InitAction: Equatable, Sendable {
    case version
    case help
}

/// Parses `arca-init`'s arguments (without the program name). Nothing from the command line is
/// trusted later on (the keeper decides the service's arguments); today only the two flags exist.
public enum InitCommandLine {
    public static func parse(_ arguments: [String]) throws -> InitAction {
        guard let first = arguments.first else {
            throw ArcaError(.invalidArgument, "arca-init needs an argument; it runs only --version and --help so far")
        }
        guard arguments.count == 1 else {
            throw ArcaError(.invalidArgument, "arca-init takes one argument, got \(arguments.count)")
        }
        switch first {
        case "--version", "-V": return .version
        case "--help", "-h": return .help
        default:
            throw ArcaError(.invalidArgument, "unknown argument \"\(String(first.prefix(64)))\"; try --help")
        }
    }

    /// The text of `--help`.
    public static let usage = """
        arca-init \(InitVersion.current): the entrypoint of an Arca sealed image.

        It runs inside the container as /.arca/bin/arca-init with its own loader and libraries
        from /.arca/lib, so it starts on any base image (glibc, musl, distroless, scratch).

        Usage:
          arca-init --version   print the version and exit
          arca-init --help      print this text and exit

        """
}
