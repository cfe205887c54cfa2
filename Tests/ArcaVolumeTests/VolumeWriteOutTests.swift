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

    /// Pseudo-random bytes, eight per draw (`TestRandom.bytes` draws one per byte: slow in debug
    /// builds for the megabytes this suite writes).
    static func quickBytes(_ count: Int, _ random: inout TestRandom) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { out in
            var at = 0
            while at < count {
                let word = random.next()
                for shift in stride(from: 0, to: min(8, count - at) * 8, by: 8) {
                    out[at] = UInt8(truncatingIfNeeded: word >> UInt64(shift))
                    at += 1
                }
            }
        }
        return bytes
    }

    /// Four writers on their own files (random writes, truncates, read-backs against a model, and
    /// commits) while write-outs run unlocked beside them: every read-back and the reopened volume
    /// match the models.
    @Test func concurrentWritersReadersAndCommitsMatchTheirModels() async throws {
        try await VolumeFixture.with(chunkSize: 16_384) { fixture in
            let volume = try fixture.open()
            let models = try await withThrowingTaskGroup(of: (String, [UInt8]).self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        var random = TestRandom(seed: 100 + UInt64(writer))
                        let name = "w\(writer)"
                        var model: [UInt8] = []
                        let inode = try volume.create(parent: Volume.rootInode, name: Array(name.utf8), permissions: 0o644, uid: 0, gid: 0).inode
                        for step in 0..<120 {
                            let choice = random.next() % 10
                            if choice < 6 {
                                let offset = Int(random.next() % (2 << 20))
                                let bytes = Self.quickBytes(1 + Int(random.next() % (256 << 10)), &random)
                                _ = try bytes.withUnsafeBytes { try volume.write(inode: inode, offset: UInt64(offset), bytes: $0) }
                                if model.count < offset + bytes.count { model += [UInt8](repeating: 0, count: offset + bytes.count - model.count) }
                                model.replaceSubrange(offset..<offset + bytes.count, with: bytes)
                            } else if choice < 7 {
                                let size = Int(random.next() % UInt64(model.count + 1))
                                _ = try volume.setAttributes(inode: inode, AttributeUpdate(size: UInt64(size)))
                                model.removeSubrange(size...)
                            } else if choice < 9, !model.isEmpty {
                                let offset = Int(random.next() % UInt64(model.count))
                                var buffer = [UInt8](repeating: 0, count: 1 + Int(random.next() % (64 << 10)))
                                let n = try buffer.withUnsafeMutableBytes { try volume.read(inode: inode, offset: UInt64(offset), into: $0) }
                                #expect(Array(buffer[..<n]) == Array(model[offset..<min(model.count, offset + buffer.count)]), "\(name) step \(step)")
                            } else {
                                try volume.commit()
                            }
                        }
                        return (name, model)
                    }
                }
                var models: [String: [UInt8]] = [:]
                for try await (name, model) in group { models[name] = model }
                return models
            }
            for (name, model) in models { #expect(try volume.get(name) == model, "\(name) before closing") }
            try volume.close()
            let reopened = try fixture.open()
            for (name, model) in models { #expect(try reopened.get(name) == model, "\(name) after reopening") }
            #expect(Set(try fixture.segmentFiles()) == reopened.referencedSegmentFiles)
            try reopened.close()
        }
    }
}
