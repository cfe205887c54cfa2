import ArcaCore
import ArcaCrypto
import ArcaTestSupport
import Testing
@testable import ArcaVolume

/// The segment cleaner (docs/FORMAT.md, "Volumes" V3): segments whose chunks died are deleted;
/// when dead bytes pass the live ones, live chunks move (as sealed bytes) out of mostly-dead
/// segments, and the volume reads the same before and after a reopen.
@Suite struct VolumeCleanerTests {
    @Test func deadSegmentsGoAndMostlyDeadOnesAreCompacted() async throws {
        try await VolumeFixture.with { fixture in
            var random = TestRandom(seed: 11)
            let a = random.bytes(16 * 4096), b = random.bytes(16 * 4096)
            let volume = try fixture.open()
            volume.cleanerSlackOverride = 0
            let inode = try volume.put("a", a)
            try volume.put("b", b)
            try volume.commit()
            let first = try volume.chunks(of: "a")[0].segment
            #expect(try volume.chunks(of: "b").allSatisfy { $0.segment == first })

            // b unlinked and a's chunk 0 rewritten: the first segment keeps 15 of 32 chunks live.
            try volume.unlink(parent: Volume.rootInode, name: Array("b".utf8))
            var changed = a
            changed[0] ^= 0xFF
            _ = try [changed[0]].withUnsafeBytes { try volume.write(inode: inode, offset: 0, bytes: $0) }
            try volume.commit()
            #expect(volume.segments[first] == SegmentUse(size: 32 * 4112, live: 15 * 4112))
            #expect(Set(try fixture.segmentFiles()) == volume.referencedSegmentFiles)

            // Dead (17 chunks) now exceeds live (16): the next commit moves the 15 live chunks.
            _ = try volume.setAttributes(inode: inode, AttributeUpdate(permissions: 0o600))
            try volume.commit()
            let places = try volume.chunks(of: "a")
            #expect(!places.contains { $0.segment == first })
            #expect(volume.segments[first] == nil)
            #expect(Set(try fixture.segmentFiles()) == volume.referencedSegmentFiles)
            #expect(volume.segments.values.reduce(0) { $0 + $1.size } == 16 * 4112, "no dead bytes left")
            #expect(try volume.get("a") == changed)
            try volume.close()

            let reopened = try fixture.open()
            defer { reopened.abandon() }
            #expect(try reopened.get("a") == changed)
            #expect(reopened.segments.values.reduce(0) { $0 + $1.live } == 16 * 4112)
        }
    }

    @Test func anOpenUnlinkedFileKeepsItsChunksThroughACompaction() async throws {
        try await VolumeFixture.with { fixture in
            var random = TestRandom(seed: 12)
            let kept = random.bytes(4 * 4096), orphan = random.bytes(4 * 4096), filler = random.bytes(16 * 4096)
            let volume = try fixture.open()
            defer { try? volume.close() }
            volume.cleanerSlackOverride = 0
            try volume.put("kept", kept)
            let orphanInode = try volume.put("orphan", orphan)
            try volume.put("filler", filler)
            try volume.commit()
            _ = try volume.open(inode: orphanInode)
            try volume.unlink(parent: Volume.rootInode, name: Array("orphan".utf8))
            try volume.unlink(parent: Volume.rootInode, name: Array("filler".utf8))
            try volume.commit()  // filler's 16 chunks are dead; kept's and the orphan's 8 still live
            _ = try volume.setAttributes(inode: Volume.rootInode, AttributeUpdate(permissions: 0o700))
            try volume.commit()  // 16 dead > 8 live: compacted, the orphan's chunks moved too
            #expect(volume.orphans[orphanInode]!.chunks.values.allSatisfy { volume.segments[$0.segment] != nil })
            #expect(try volume.contents(inode: orphanInode) == orphan)
            #expect(try volume.get("kept") == kept)
            volume.release(inode: orphanInode)
            _ = try volume.setAttributes(inode: Volume.rootInode, AttributeUpdate(permissions: 0o755))
            try volume.commit()
            #expect(Set(try fixture.segmentFiles()) == volume.referencedSegmentFiles)
        }
    }
}
