import ArgumentParser

/// The root of the `arca` command tree.
public struct ArcaCommand: AsyncParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "arca",
        abstract: "Turn container images into confidential images, and run them.",
        version: version,
        subcommands: [SealCommand.self, MeasureCommand.self, VerifyCommand.self, RunCommand.self, InspectCommand.self, CopyCommand.self, EvidenceCommand.self,
                      KeeperCommand.self, SessionCommand.self, VolumeCommand.self])

    public init() {}
}
