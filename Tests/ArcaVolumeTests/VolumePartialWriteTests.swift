import ArcaCore
import Testing
@testable import ArcaVolume

/// Partial-chunk writes fetch and open the old chunk with the lock released (`Volume.write`):
/// whatever changes the chunk meanwhile (a write, a write-out and commit, a truncate) must be
/// what the write is applied to, never the stale copy it fetched.
@Suite struct VolumePartialWriteTests {
    /// Runs once, from inside the first fetching write (the hook runs with no lock held).
    final class Once: @unchecked Sendable {
        // @unchecked: set inside the hook, read after the write that ran it returned.
        var ran = false
    }

    /// A file of three 4 KiB chunks, committed, in a freshly opened volume (nothing cached).
    static func prepared(_ fixture: VolumeFixture, seed: UInt64) throws -> (Volume, UInt64, [UInt8]) {
        var random = TestRandom(seed: seed)
        let original = random.bytes(3 * 4096)
        let volume = try fixture.open()
        try volume.put("f", original)
        try volume.close()
        let reopened = try fixture.open()
        return (reopened, try reopened.lookup(parent: Volume.rootInode, name: Array("f".utf8)).inode, original)
    }

    @Test func aChunkRewrittenAndCommittedWhileFetchedIsMergedAsItIsNow() async throws {
        try await VolumeFixture.with { fixture in
            let (volume, inode, original) = try Self.prepared(fixture, seed: 71)
            let once = Once()
            let small = [UInt8](repeating: 0x11, count: 100)
            let whole = [UInt8](repeating: 0x33, count: 4096)
            volume.writeFetchHook = { [volume] in
                guard !once.ran else { return }
                once.ran = true
                // Chunk 0 partly rewritten, chunk 2 wholly; both written out and committed, so
                // both now live at new places (the fetched copies are stale).
                _ = try small.withUnsafeBytes { try volume.write(inode: inode, offset: 10, bytes: $0) }
                _ = try whole.withUnsafeBytes { try volume.write(inode: inode, offset: 8192, bytes: $0) }
                try volume.commit()
            }
            // Chunk 0 from byte 1000, chunk 1 whole, chunk 2 up to byte 8200: 0 and 2 are fetched.
            let data = [UInt8](repeating: 0x22, count: 8200 - 1000)
            _ = try data.withUnsafeBytes { try volume.write(inode: inode, offset: 1000, bytes: $0) }
            volume.writeFetchHook = nil
            #expect(once.ran)
            var model = original
            model.replaceSubrange(10..<110, with: small)
            model.replaceSubrange(8192..<12288, with: whole)
            model.replaceSubrange(1000..<8200, with: data)
            #expect(try volume.get("f") == model)
            try volume.close()
            let reopened = try fixture.open()
            #expect(try reopened.get("f") == model)
            #expect(Set(try fixture.segmentFiles()) == reopened.referencedSegmentFiles)
            try reopened.close()
        }
    }

    @Test func aChunkTruncatedAwayWhileFetchedBecomesZeros() async throws {
        try await VolumeFixture.with { fixture in
            let (volume, inode, original) = try Self.prepared(fixture, seed: 72)
            let once = Once()
            volume.writeFetchHook = { [volume] in
                guard !once.ran else { return }
                once.ran = true
                _ = try volume.setAttributes(inode: inode, AttributeUpdate(size: 4096 + 50))  // chunk 2 gone, chunk 1 cut
            }
            // Chunk 1 from byte 100 on (fetched, then cut to 50 bytes), chunk 2 from its start (fetched, then gone).
            let data = [UInt8](repeating: 0x44, count: 8200 - (4096 + 100))
            _ = try data.withUnsafeBytes { try volume.write(inode: inode, offset: 4096 + 100, bytes: $0) }
            volume.writeFetchHook = nil
            #expect(once.ran)
            let model = Array(original[..<(4096 + 50)]) + [UInt8](repeating: 0, count: 50) + data
            #expect(try volume.get("f") == model)
            try volume.close()
            let reopened = try fixture.open()
            #expect(try reopened.get("f") == model)
            try reopened.close()
        }
    }

    @Test func aFailedFetchChangesNothingAndTheWriteCanBeRetried() async throws {
        try await VolumeFixture.with { fixture in
            let (volume, inode, original) = try Self.prepared(fixture, seed: 73)
            struct Failure: Error {}
            volume.writeFetchHook = { throw Failure() }
            let data = [UInt8](repeating: 0x55, count: 100)
            #expect(throws: Failure.self) { _ = try data.withUnsafeBytes { try volume.write(inode: inode, offset: 5000, bytes: $0) } }
            volume.writeFetchHook = nil
            #expect(try volume.get("f") == original)
            _ = try data.withUnsafeBytes { try volume.write(inode: inode, offset: 5000, bytes: $0) }
            var model = original
            model.replaceSubrange(5000..<5100, with: data)
            #expect(try volume.get("f") == model)
            try volume.close()
            let reopened = try fixture.open()
            #expect(try reopened.get("f") == model)
            try reopened.close()
        }
    }
}
