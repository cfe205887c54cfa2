import ArcaCore

/// What the command line asks `arca-init` to do.
public enum InitAction: Equatable, Sendable {
    /// Start the sealed image's service; the strings are host arguments (after `--`), used only where the session allows.
    case start([String])
    case version
    case help
}

/// Parses `arca-init`'s arguments (without the program name). Nothing from the command line is
/// trusted later on (the keeper decides the service's arguments); today only the two flags exist.
public enum InitCommandLine {
    public static func parse(_ arguments: [String]) throws -> InitAction {
        guard let first = arguments.first else { return .start([]) }
        if first == "--" { return .start(Array(arguments.dropFirst())) }
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
          arca-init [-- ARGS…]  attest to the keeper, mount the protected root, run the service
                                (ARGS reach it only where the session allows host arguments)
          arca-init --version   print the version and exit
          arca-init --help      print this text and exit

        Environment: ARCA_KEEPER (overrides the measured keeper URL), ARCA_PLATFORM_KEY (the
        sim platform key file), ARCA_EVIDENCE=auto|sim|tsm|gramine.

        """
}
