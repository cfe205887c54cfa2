import ArcaCore
import ArcaKeeperAPI
import ArcaVolume
import ArgumentParser

/// `arca volume reset-anchor SESSION VOLUME`: moves the keeper's rollback anchor, for a
/// deliberate restore. Owner-only and audited by the keeper.
struct VolumeResetAnchorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reset-anchor",
        abstract: "Anchor a volume at a chosen version (after restoring a backup); owner only, audited.",
        discussion: """
            With --host-dir, the newest version the restored directory holds is anchored (its root
            hash is computed from the directory; no key is needed). With --version and --root, that
            state. With --empty, nothing: the next start creates a new, empty volume in an empty
            host directory. Any pending commit and any lease are dropped, so stop the service first.
            """)

    @OptionGroup var target: VolumeTarget
    @Option(help: "The restored host directory of the volume.") var hostDir: String?
    @Option(help: "The version to anchor (with --root).") var version: UInt64?
    @Option(help: "The root hash of that version, 64 hex digits (with --version).") var root: String?
    @Flag(help: "Anchor nothing (start over with an empty volume).") var empty = false
    @OptionGroup var keeper: SessionKeeperOptions

    func validate() throws {
        let modes = [hostDir != nil, version != nil || root != nil, empty].filter { $0 }.count
        guard modes == 1 else { throw ValidationError("give exactly one of --host-dir DIR, --version N --root HEX, or --empty") }
        if (version == nil) != (root == nil) { throw ValidationError("--version and --root go together") }
    }

    func run() async throws {
        var point: (version: Int64, root: String) = (0, "")
        if let hostDir {
            let state = try VolumeCopy.newestState(at: hostDir)
            point = (Int64(state.version), state.root.hex)
        } else if let version, let root {
            guard version <= UInt64(Int64.max) else { throw ValidationError("--version \(version) is too large") }
            point = (Int64(version), root.lowercased())
        }
        // The keeper's audit entry records the version it replaced.
        let after = try await keeper.client().anchor("reset", AnchorRequest(session: target.session, volume: target.volume,
                                                                            rootHash: point.root, version: point.version))
        print("volume \(target.volume) of \(target.session): anchored at version \(after.version)"
              + (after.rootHash.isEmpty ? " (nothing committed)" : " (root \(after.rootHash))"))
    }
}
