import ArcaCore
import Synchronization
import Testing
@testable import ArcaVolume

#if canImport(Glibc)
import Glibc
#endif

/// Write-outs run with the volume lock released (VolumeWriteOut.swift): reads, writes,
/// truncates and deletes that land while one seals must see and keep the right bytes.
@Suite struct VolumeWriteOutTests {
    /// Files filled so that the last write passes `dirtyLimit` and writes them all out.
    static let fileSize = 2 << 20

    /// Operations made from inside the write-out (the hook runs with only `flushLock` held).
    final class Probe: @unchecked Sendable {
        // @unchecked: written once inside the hook, read after the write that ran it returned.
        var readBack: [UInt8] = []
        var ran = false
    }

    @Test func operationsDuringAWriteOutKeepTheirEffect() async throws {
        try await VolumeFixture.with { fixture in
            let volume = try fixture.open()
            var random = TestRandom(seed: 41)
            var model: [String: [UInt8]] = [:]
            for name in ["a", "b", "c", "d"] {
                model[name] = random.bytes(Self.fileSize)
                try volume.put(name, model[name]!)
            }
            let a = try volume.lookup(parent: Volume.rootInode, name: Array("a".utf8)).inode
            let b = try volume.lookup(parent: Volume.rootInode, name: Array("b".utf8)).inode
            let d = try volume.lookup(parent: Volume.rootInode, name: Array("d".utf8)).inode
            let patch = [UInt8](repeating: 0xAB, count: 3000)
            let tail = [UInt8](repeating: 0x5C, count: 100)
            let probe = Probe()
            volume.writeOutHook = { [volume] in
                guard !probe.ran else { return }
                probe.ran = true
                // A read of chunks being sealed, a read-modify-write of them, a truncate below
                // them followed by a write past the cut (the cut chunks must stay zeros), a delete,
                // and a delete of an open file (an orphan, still readable).
                var buffer = [UInt8](repeating: 0, count: 5000)
                let n = try buffer.withUnsafeMutableBytes { try volume.read(inode: b, offset: 4096 * 3 + 100, into: $0) }
                probe.readBack = Array(buffer[..<n])
                _ = try patch.withUnsafeBytes { try volume.write(inode: b, offset: 4096 * 5 + 10, bytes: $0) }
                _ = try volume.setAttributes(inode: a, AttributeUpdate(size: 10_000))
                _ = try tail.withUnsafeBytes { try volume.write(inode: a, offset: 50_000, bytes: $0) }
                try volume.unlink(parent: Volume.rootInode, name: Array("c".utf8))
                _ = try volume.open(inode: d)
                try volume.unlink(parent: Volume.rootInode, name: Array("d".utf8))
            }
            model["e"] = random.bytes(1 << 20)
            try volume.put("e", model["e"]!)  // passes the limit: the write-out runs the hook
            volume.writeOutHook = nil
            #expect(probe.ran)
            #expect(probe.readBack == Array(model["b"]![4096 * 3 + 100..<4096 * 3 + 5100]))
            model["b"]!.replaceSubrange(4096 * 5 + 10..<4096 * 5 + 3010, with: patch)
            model["a"] = Array(model["a"]![..<10_000]) + [UInt8](repeating: 0, count: 40_000) + tail
            let orphan = model.removeValue(forKey: "d")!
            model["c"] = nil
            #expect(volume.dirtyBytes < Volume.dirtyLimit)
            #expect(try volume.contents(inode: d) == orphan)
            volume.release(inode: d)
            for (name, bytes) in model { #expect(try volume.get(name) == bytes, "\(name) before the commit") }
            try volume.close()
            let reopened = try fixture.open()
            #expect(try reopened.names() == ["a", "b", "e"])
            for (name, bytes) in model { #expect(try reopened.get(name) == bytes, "\(name) after reopening") }
            #expect(Set(try fixture.segmentFiles()) == reopened.referencedSegmentFiles)
            try reopened.close()
        }
    }

    struct FailedWrite: Error {}

    @Test func aFailedWriteOutKeepsTheDataDirty() async throws {
        try await VolumeFixture.with { fixture in
            let volume = try fixture.open()
            var random = TestRandom(seed: 42)
            let first = random.bytes(Self.fileSize)
            try volume.put("first", first)
            let big = random.bytes(Volume.dirtyLimit)
            volume.writeOutHook = { throw FailedWrite() }
            #expect(throws: FailedWrite.self) { try volume.put("big", big) }
            volume.writeOutHook = nil
            #expect(try fixture.segmentFiles().isEmpty)
            #expect(try volume.get("first") == first)
            #expect(try volume.get("big") == big)
            try volume.commit()
            try volume.close()
            let reopened = try fixture.open()
            #expect(try reopened.get("first") == first)
            #expect(try reopened.get("big") == big)
            #expect(Set(try fixture.segmentFiles()) == reopened.referencedSegmentFiles)
            try reopened.close()
        }
    }
}
