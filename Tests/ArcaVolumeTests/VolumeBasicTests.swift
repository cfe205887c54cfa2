import ArcaCore
import ArcaTestSupport
import Testing
@testable import ArcaVolume

#if canImport(Glibc)
import Glibc
#endif

@Suite struct VolumeBasicTests {
    @Test func contentSurvivesCloseAndReopenAtEverySizeBoundary() async throws {
        try await VolumeFixture.with { fixture in
            var random = TestRandom(seed: 1)
            let sizes = [0, 1, 4095, 4096, 4097, 3 * 4096 + 2048]
            var expected: [String: [UInt8]] = [:]
            let volume = try fixture.open()
            let dir = try volume.makeDirectory(parent: Volume.rootInode, name: Array("secret-dir".utf8), permissions: 0o750, uid: 5, gid: 6)
            for size in sizes {
                let bytes = random.bytes(size)
                try volume.put("file-\(size)", bytes, in: dir.inode)
                expected["file-\(size)"] = bytes
            }
            _ = try volume.makeSymlink(parent: Volume.rootInode, name: Array("link".utf8), target: Array("secret-dir/file-1".utf8), uid: 0, gid: 0)
            let before = volume.version
            try volume.close()

            let reopened = try fixture.open()
            defer { try? reopened.close() }
            #expect(reopened.version == before + 1)
            let dirAttributes = try reopened.lookup(parent: Volume.rootInode, name: Array("secret-dir".utf8))
            #expect(dirAttributes.mode == S_IFDIR | 0o750 && dirAttributes.uid == 5 && dirAttributes.gid == 6)
            for (name, bytes) in expected { #expect(try reopened.get(name, in: dirAttributes.inode) == bytes, "\(name)") }
            let link = try reopened.lookup(parent: Volume.rootInode, name: Array("link".utf8))
            #expect(try reopened.readLink(inode: link.inode) == Array("secret-dir/file-1".utf8))
            #expect(try reopened.names() == ["link", "secret-dir"])

            // Names and contents never reach the host directory in the clear.
            for name in try fixture.segmentFiles() + fixture.metadataFiles().map({ "../meta/" + $0 }) + ["../volume"] {
                let raw = try FileSystem.readFile(fixture.host + "/segments/" + name, limit: 1 << 24)
                #expect(!contains(raw, Array("secret-dir".utf8)) && !contains(raw, Array("file-4096".utf8)), "\(name)")
            }
        }
    }

    @Test func sparseWritesTruncateAndExtendReadZeros() async throws {
        try await VolumeFixture.with { fixture in
            let volume = try fixture.open()
            defer { try? volume.close() }
            let inode = try volume.put("f", [UInt8](repeating: 7, count: 10_000))
            _ = try [UInt8]([1, 2, 3]).withUnsafeBytes { try volume.write(inode: inode, offset: 20_000, bytes: $0) }
            var expected = [UInt8](repeating: 7, count: 10_000) + [UInt8](repeating: 0, count: 10_000) + [1, 2, 3]
            #expect(try volume.contents(inode: inode) == expected)
            _ = try volume.setAttributes(inode: inode, AttributeUpdate(size: 5000))
            _ = try volume.setAttributes(inode: inode, AttributeUpdate(size: 9000))
            expected = [UInt8](repeating: 7, count: 5000) + [UInt8](repeating: 0, count: 4000)
            #expect(try volume.contents(inode: inode) == expected)
            try volume.commit()
            #expect(try volume.contents(inode: inode) == expected)
            // A read past the end returns nothing; a read across it is short.
            var buffer = [UInt8](repeating: 0, count: 100)
            #expect(try buffer.withUnsafeMutableBytes { try volume.read(inode: inode, offset: 9000, into: $0) } == 0)
            #expect(try buffer.withUnsafeMutableBytes { try volume.read(inode: inode, offset: 8950, into: $0) } == 50)
        }
    }

    @Test func renameUnlinkAndDirectoryRulesFollowPOSIX() async throws {
        try await VolumeFixture.with { fixture in
            let volume = try fixture.open()
            defer { try? volume.close() }
            let root = Volume.rootInode
            let a = try volume.makeDirectory(parent: root, name: Array("a".utf8), permissions: 0o755, uid: 0, gid: 0).inode
            let b = try volume.makeDirectory(parent: a, name: Array("b".utf8), permissions: 0o755, uid: 0, gid: 0).inode
            try volume.put("x", [1], in: a)
            try volume.put("y", [2], in: root)
            func errno(_ body: () throws -> Void) -> Int32? {
                do { try body(); return nil } catch let failure as POSIXFailure { return failure.code } catch { return -1 }
            }
            #expect(errno { try volume.rename(parent: root, name: Array("a".utf8), newParent: b, newName: Array("a".utf8)) } == EINVAL)
            #expect(errno { try volume.rename(parent: root, name: Array("y".utf8), newParent: a, newName: Array("x".utf8), noReplace: true) } == EEXIST)
            #expect(errno { try volume.rename(parent: root, name: Array("y".utf8), newParent: a, newName: Array("b".utf8)) } == EISDIR)
            #expect(errno { try volume.removeDirectory(parent: root, name: Array("a".utf8)) } == ENOTEMPTY)
            #expect(errno { try volume.unlink(parent: root, name: Array("a".utf8)) } == EISDIR)
            #expect(errno { _ = try volume.create(parent: a, name: Array("x".utf8), permissions: 0o644, uid: 0, gid: 0) } == EEXIST)
            #expect(errno { _ = try volume.create(parent: a, name: Array("..".utf8), permissions: 0o644, uid: 0, gid: 0) } == EINVAL)
            #expect(errno { _ = try volume.lookup(parent: a, name: Array("missing".utf8)) } == ENOENT)

            // Rename across directories, replacing a file.
            try volume.rename(parent: root, name: Array("y".utf8), newParent: a, newName: Array("x".utf8))
            #expect(try volume.get("x", in: a) == [2])
            #expect(try volume.names() == ["a"])
            try volume.rename(parent: a, name: Array("b".utf8), newParent: root, newName: Array("b2".utf8))
            #expect(try volume.parent(of: b) == root)
            #expect(try volume.attributes(inode: root).linkCount == 4)

            // An unlinked file stays readable while open, and is gone after the last close.
            let x = try volume.lookup(parent: a, name: Array("x".utf8)).inode
            _ = try volume.open(inode: x)
            try volume.commit()
            try volume.unlink(parent: a, name: Array("x".utf8))
            try volume.commit()  // no version references x now; its segment stays while it is open
            #expect(try volume.contents(inode: x) == [2])
            let orphanSegment = ChunkReference.segmentName(volume.orphans[x]!.chunks[0]!.segment)
            #expect(try fixture.segmentFiles().contains(orphanSegment))
            #expect(Set(try fixture.segmentFiles()) == volume.referencedSegmentFiles.union([orphanSegment]))
            volume.release(inode: x)
            #expect(errno { _ = try volume.attributes(inode: x) } == ENOENT)
            try volume.commit()
            #expect(Set(try fixture.segmentFiles()) == volume.referencedSegmentFiles, "the orphan's chunk went with the commit")
        }
    }

    @Test func aSecondUserOfTheVolumeIsRefusedWhileTheLeaseIsHeld() async throws {
        try await VolumeFixture.with { fixture in
            let first = try fixture.open()
            #expect { _ = try fixture.open() } throws: { ($0 as? ArcaError)?.code == .volumeBusy }
            try first.close()
            let second = try fixture.open()
            try second.close()
        }
    }

    @Test func aWrongKeyIsRefusedByTheKeyCheck() async throws {
        try await VolumeFixture.with { fixture in
            #expect { _ = try Volume.open(at: fixture.host, key: .generate(), anchor: fixture.anchor) } throws: {
                ($0 as? ArcaError)?.code == .integrity && "\($0)".contains("key check")
            }
        }
    }

    @Test func largeWritesSpillToASegmentBeforeTheCommit() async throws {
        try await VolumeFixture.with(chunkSize: 65_536) { fixture in
            let volume = try fixture.open()
            var random = TestRandom(seed: 9)
            let bytes = random.bytes(Volume.dirtyLimit + 100_000)
            let inode = try volume.put("big", bytes)
            #expect(volume.dirtyBytes < Volume.dirtyLimit)
            #expect(try fixture.segmentFiles().count == 1)
            #expect(try volume.contents(inode: inode) == bytes)
            try volume.close()
            #expect(try fixture.open().get("big") == bytes)
        }
    }
}

func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard needle.count <= haystack.count else { return false }
    for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
        if Array(haystack[start..<start + needle.count]) == needle { return true }
    }
    return false
}
