import ArcaCore
import ArcaCrypto
import ArcaKeeperAPI
import ArcaVolume
import ArgumentParser

/// `arca volume …`: owner operations on a session's encrypted volumes (docs/VOLUMES.md).
struct VolumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volume",
        abstract: "Reset a volume's rollback anchor or rotate its key (session owner only).",
        subcommands: [VolumeResetAnchorCommand.self, VolumeRotateCommand.self])
}

/// The volume a command acts on.
struct VolumeTarget: ParsableArguments {
    @Argument(help: "The session, team/app.") var session: String
    @Argument(help: "The volume's name in the session.") var volume: String
}

/// The keeper's view of an anchor as the volume library sees it (version 0: nothing committed).
func volumeAnchorState(_ anchor: AnchorState) -> VolumeAnchorState {
    func point(_ version: Int64?, _ root: String?) -> AnchorPoint? {
        guard let version, version > 0, let root, let bytes = Hex.decode(root), let hash = Hash256(bytes) else { return nil }
        return AnchorPoint(version: UInt64(version), root: hash)
    }
    return VolumeAnchorState(committed: point(anchor.version, anchor.rootHash),
                             intent: point(anchor.pendingVersion, anchor.pendingRootHash))
}

/// A random lease-holder name for an offline tool.
func randomHolder(_ purpose: String) -> String {
    purpose + "-" + Hex.encode((0..<12).map { _ in UInt8.random(in: 0...255) })
}
