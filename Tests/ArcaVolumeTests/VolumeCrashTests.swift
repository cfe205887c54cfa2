import ArcaCore
import ArcaCrypto
import ArcaTestSupport
import Testing
@testable import ArcaVolume

struct SimulatedCrash: Error {}

@Suite struct VolumeCrashTests {
    /// A crash after each commit step leaves the old version (before the intent) or the new one
    /// (from the intent on), never a mixture, and leaves no unreferenced files after reopening.
    @Test(arguments: [Volume.CommitStep.chunksWritten, .metadataWritten, .intentRecorded, .committed])
    func aCrashAtAnyCommitStepLeavesTheOldOrTheNewVersion(step: Volume.CommitStep) async throws {
        try await VolumeFixture.with { fixture in
            var random = TestRandom(seed: 3)
            let old = random.bytes(10_000), new = random.bytes(12_345)
            let setup = try fixture.open()
            try setup.put("data", old)
            try setup.put("gone", [9])
            try setup.close()

            let volume = try fixture.open()
            let committedVersion = volume.version
            try volume.put("data", new)
            try volume.unlink(parent: Volume.rootInode, name: Array("gone".utf8))
            volume.commitHook = { if $0 == step { throw SimulatedCrash() } }
            #expect(throws: SimulatedCrash.self) { try volume.commit() }
            volume.abandon()

            let reopened = try fixture.open()
            defer { try? reopened.close() }
            let survived = step == .chunksWritten || step == .metadataWritten
            #expect(reopened.version == (survived ? committedVersion : committedVersion + 1))
            #expect(try reopened.get("data") == (survived ? old : new))
            #expect(try reopened.names() == (survived ? ["data", "gone"] : ["data"]))
            #expect(try fixture.metadataFiles() == [MetadataFile.name(version: reopened.version)])
            #expect(Set(try fixture.segmentFiles()) == reopened.referencedSegmentFiles, "garbage was collected")
            #expect(try fixture.anchor.read() == VolumeAnchorState(committed: AnchorPoint(version: reopened.version, root: reopened.rootHash), intent: nil))
        }
    }

    @Test func aTornMetadataFileFallsBackToTheCommittedVersion() async throws {
        try await VolumeFixture.with { fixture in
            let volume = try fixture.open()
            try volume.put("a", [1, 2, 3])
            try volume.commit()
            let committed = volume.version
            try volume.put("a", [4, 5, 6])
            volume.commitHook = { if $0 == .intentRecorded { throw SimulatedCrash() } }
            #expect(throws: SimulatedCrash.self) { try volume.commit() }
            volume.abandon()
            // The intended metadata file is cut short (a torn write the host kept).
            let path = fixture.host + "/meta/" + MetadataFile.name(version: committed + 1)
            let bytes = try FileSystem.readFile(path, limit: 1 << 20)
            try FileSystem.writeAtomically(Array(bytes.dropLast(5)), to: path)
            let reopened = try fixture.open()
            defer { try? reopened.close() }
            #expect(reopened.version == committed)
            #expect(try reopened.get("a") == [1, 2, 3])
            #expect(try fixture.anchor.read().intent?.version == committed + 1, "the abandoned intent stays")
            try reopened.put("a", [7])
            try reopened.commit()  // and the next commit replaces it
            #expect(try fixture.anchor.read() == VolumeAnchorState(committed: AnchorPoint(version: committed + 1, root: reopened.rootHash), intent: nil))
        }
    }

    @Test func changesThatWereNeverCommittedVanishAndNothingLeaks() async throws {
        try await VolumeFixture.with(chunkSize: 65_536) { fixture in
            let volume = try fixture.open()
            try volume.put("kept", [1])
            try volume.commit()
            var random = TestRandom(seed: 4)
            try volume.put("spilled", random.bytes(Volume.dirtyLimit + 70_000))  // spills a segment
            #expect(try fixture.segmentFiles().count == 2)
            volume.abandon()
            let reopened = try fixture.open()
            defer { try? reopened.close() }
            #expect(try reopened.names() == ["kept"])
            #expect(try fixture.segmentFiles().count == 1)
        }
    }
}
