import ArcaCore
import ArcaKeeperAPI
import ArcaVolume
import Testing
@testable import ArcaCommands

/// `arca run --volume NAME:HOSTDIR` parsing and the keeper-anchor mapping the volume commands use.
@Suite struct VolumeBindingsTests {
    @Test func volumeFlagsParseAndMalformedOnesAreRefused() throws {
        #expect(try VolumeBindings.parse(["data:/srv/a", "logs:/srv/b:c"]) == ["data": "/srv/a", "logs": "/srv/b:c"])
        for bad in ["data", ":/srv", "data:", "", ":"] {
            #expect(throws: ArcaError.self, "\(bad)") { _ = try VolumeBindings.parse([bad]) }
        }
        #expect(throws: ArcaError.self) { _ = try VolumeBindings.parse(["data:/a", "data:/b"]) }
    }

    @Test func theKeepersAnchorMapsToTheVolumesView() throws {
        let root = String(repeating: "ab", count: 32)
        #expect(volumeAnchorState(AnchorState(version: 0, rootHash: "")) == VolumeAnchorState(committed: nil, intent: nil))
        let state = volumeAnchorState(AnchorState(version: 3, rootHash: root, pendingVersion: 4, pendingRootHash: root))
        #expect(state.committed?.version == 3 && state.committed?.root.hex == root)
        #expect(state.intent?.version == 4)
        // Hostile or broken answers never become an anchor point.
        #expect(volumeAnchorState(AnchorState(version: 3, rootHash: "zz")).committed == nil)
        #expect(volumeAnchorState(AnchorState(version: -1, rootHash: root)).committed == nil)
        #expect(volumeAnchorState(AnchorState(version: 2, rootHash: "ab")).committed == nil)
    }
}
