import ArcaCore
import ArcaCrypto
import ArcaKeeperAPI
import ArcaSession
import ArcaVolume
import ArgumentParser
import Foundation

/// `arca volume rotate SESSION VOLUME --host-dir DIR`: re-encrypts a stopped volume under a new
/// key. The old volume is opened against the keeper's anchor (a rolled-back copy is refused),
/// copied into a new volume under a fresh key beside it, the session is updated with the new
/// key (naming its predecessor), the anchor is reset to the new volume's state, and the new
/// directory replaces the old one.
struct VolumeRotateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Re-encrypt a stopped volume under a new key and update the session (owner only).",
        discussion: """
            Run it on the host that holds the volume's directory, with the service stopped (the
            keeper's lease is taken for the duration; a running container holds it and the rotation
            is refused). The old key opens nothing afterwards. If the command is interrupted after
            "session updated", finish by hand: move DIR.rotating-* to DIR and run
            `arca volume reset-anchor SESSION VOLUME --host-dir DIR`.
            """)

    @OptionGroup var target: VolumeTarget
    @Option(help: "The volume's host directory (the service must be stopped).") var hostDir: String
    @OptionGroup var keeper: SessionKeeperOptions

    func run() async throws {
        let client = try keeper.client()
        let shown = try await client.showSession(name: target.session)
        var session = try SessionDocument.decodeJSON(Array(shown.session.utf8))
        guard let index = session.volumes.firstIndex(where: { $0.name == target.volume }) else {
            throw ArcaError(.notFound, "session \(target.session) has no volume \(target.volume)")
        }
        guard let oldHex = session.volumes[index].key, let oldBytes = Hex.decode(oldHex) else {
            throw ArcaError(.invalidFormat, "session \(target.session) holds no key for volume \(target.volume)")
        }
        let oldKey = try MasterKey(bytes: oldBytes)
        let holder = randomHolder("rotate")
        func request(_ version: Int64? = nil, _ root: String? = nil, lease: Int? = nil) -> AnchorRequest {
            AnchorRequest(session: target.session, volume: target.volume, holder: holder, leaseSeconds: lease, rootHash: root, version: version)
        }
        _ = try await client.anchor("lease", request(lease: 600))
        var sessionUpdated = false
        let fresh = hostDir + ".rotating-" + randomHolder("new")
        do {
            let anchored = try await client.anchor("get", request())
            let old = try Volume.open(at: hostDir, key: oldKey, anchor: MemoryVolumeAnchor(volumeAnchorState(anchored)))
            let newKey = MasterKey.generate()
            let copy = try Volume.create(at: fresh, key: newKey, anchor: MemoryVolumeAnchor(), chunkSize: old.chunkSize)
            let count = try VolumeCopy.copyTree(from: old, to: copy)
            let state = AnchorPoint(version: copy.version, root: copy.rootHash)
            try copy.close()
            try old.close()
            printError("re-encrypted \(count) entries of volume \(target.volume) (version \(anchored.version)) into \(fresh)")

            session.volumes[index].key = newKey.withUnsafeBytes { Hex.encode($0) }
            session.predecessor = shown.hash
            let updated = try await client.updateSession(name: target.session, document: try SessionDocument.yaml(session))
            sessionUpdated = true
            printError("session updated: \(updated.name) hash \(updated.hash)")
            _ = try await client.anchor("reset", request(Int64(state.version), state.root.hex))

            let retired = hostDir + ".old-" + randomHolder("old")
            guard rename(hostDir, retired) == 0 else { throw ArcaError(.io, "cannot move \(hostDir) aside: errno \(errno)") }
            guard rename(fresh, hostDir) == 0 else { throw ArcaError(.io, "cannot move \(fresh) to \(hostDir): errno \(errno)") }
            try FileSystem.removeTree(retired)
            print("volume \(target.volume) of \(target.session) rotated to a new key; anchored at version \(state.version)")
        } catch {
            if !sessionUpdated {
                _ = try? await client.anchor("unlease", request())
                try? FileSystem.removeTree(fresh)
            }
            throw error
        }
    }
}
