import ArcaCore
import ArcaCrypto
import ArcaTestSupport
import Testing
@testable import ArcaVolume

#if canImport(Glibc)
import Glibc
#endif

/// Key rotation's building blocks (`arca volume rotate` copies into a volume under a new key)
/// and `newestState` (what `arca volume reset-anchor --host-dir` anchors); ENOSPC handling.
@Suite struct VolumeRotationTests {
    /// A tree with every kind of node, sparse and multi-chunk files, modes, owners and times.
    func populate(_ volume: Volume) throws -> [String: [UInt8]] {
        var random = TestRandom(seed: 7)
        var expected: [String: [UInt8]] = [:]
        let dir = try volume.makeDirectory(parent: Volume.rootInode, name: Array("dir".utf8), permissions: 0o750, uid: 5, gid: 6)
        let inner = try volume.makeDirectory(parent: dir.inode, name: Array("inner".utf8), permissions: 0o700, uid: 7, gid: 8)
        for (name, size, parent) in [("empty", 0, Volume.rootInode), ("small", 100, dir.inode), ("big", 5 * 4096 + 17, inner.inode)] {
            let bytes = random.bytes(size)
            try volume.put(name, bytes, in: parent)
            expected[name] = bytes
        }
        let sparse = try volume.create(parent: Volume.rootInode, name: Array("sparse".utf8), permissions: 0o600, uid: 9, gid: 9)
        _ = try [1, 2, 3].withUnsafeBytes { try volume.write(inode: sparse.inode, offset: 3 * 4096, bytes: $0) }
        expected["sparse"] = [UInt8](repeating: 0, count: 3 * 4096) + [1, 2, 3]
        _ = try volume.setAttributes(inode: sparse.inode, AttributeUpdate(modificationTime: (1_700_000_000, 42)))
        _ = try volume.makeSymlink(parent: dir.inode, name: Array("link".utf8), target: Array("inner/big".utf8), uid: 1, gid: 2)
        return expected
    }

    /// Every node's path with its attributes (without inode numbers) and content.
    func snapshot(_ volume: Volume) throws -> [String: String] {
        var result: [String: String] = [:]
        var pending: [(UInt64, String)] = [(Volume.rootInode, "")]
        while let (inode, prefix) = pending.popLast().map({ ($0.0, $0.1) }) {
            for (name, a) in try volume.list(inode: inode) {
                let path = prefix + "/" + String(decoding: name, as: UTF8.self)
                var line = "\(a.kind) \(String(a.mode, radix: 8)) \(a.uid):\(a.gid) \(a.size)"
                switch a.kind {
                case .directory: pending.append((a.inode, path))
                case .symlink: line += " -> " + String(decoding: try volume.readLink(inode: a.inode), as: UTF8.self)
                case .file: line += " t=\(a.modificationSeconds).\(a.modificationNanoseconds) " + sha256Hex(try volume.contents(inode: a.inode))
                }
                result[path] = line
            }
        }
        return result
    }

    @Test func aCopyUnderANewKeyHoldsTheSameTreeAndOnlyTheNewKeyOpensIt() async throws {
        try await VolumeFixture.with { fixture in
            let old = try fixture.open()
            _ = try populate(old)
            try old.commit()
            let before = try snapshot(old)
            _ = try old.setAttributes(inode: Volume.rootInode, AttributeUpdate(permissions: 0o751, uid: 3, gid: 4))
            let root = try old.attributes(inode: Volume.rootInode)

            let newKey = MasterKey.generate()
            let newAnchor = MemoryVolumeAnchor()
            let copy = try Volume.create(at: fixture.directory + "/rotated", key: newKey, anchor: newAnchor, chunkSize: old.chunkSize)
            #expect(try VolumeCopy.copyTree(from: old, to: copy) == before.count)
            try copy.close()
            try old.close()

            let reopened = try Volume.open(at: fixture.directory + "/rotated", key: newKey, anchor: newAnchor)
            #expect(try snapshot(reopened) == before)
            let copiedRoot = try reopened.attributes(inode: Volume.rootInode)
            #expect(copiedRoot.mode == root.mode && copiedRoot.uid == 3 && copiedRoot.gid == 4)
            try reopened.close()
            // The old key opens nothing of the rotated volume.
            #expect(throws: ArcaError.self) { _ = try Volume.open(at: fixture.directory + "/rotated", key: fixture.key, anchor: newAnchor) }
            do {
                _ = try Volume.open(at: fixture.directory + "/rotated", key: fixture.key, anchor: newAnchor)
            } catch let error as ArcaError {
                #expect(error.code == .integrity && error.message.contains("key check"), "\(error)")
            }
        }
    }

    @Test func newestStateIsWhatTheAnchorHolds() async throws {
        try await VolumeFixture.with { fixture in
            let volume = try fixture.open()
            try volume.put("a", [1, 2, 3])
            try volume.close()
            let state = try VolumeCopy.newestState(at: fixture.host)
            #expect(try fixture.anchor.read().committed == state)
            #expect(throws: ArcaError.self) { _ = try VolumeCopy.newestState(at: fixture.directory) }
        }
    }

    @Test func aMemoryAnchorKeepsTheAnchorRules() throws {
        let anchor = MemoryVolumeAnchor()
        let one = AnchorPoint(version: 1, root: .zero)
        #expect(throws: ArcaError.self) { try anchor.intent(AnchorPoint(version: 2, root: .zero)) }
        #expect(throws: ArcaError.self) { try anchor.commit(one) }
        try anchor.intent(one)
        try anchor.commit(one)
        #expect(try anchor.read() == VolumeAnchorState(committed: one, intent: nil))
    }

    @Test func aFullHostDiskIsNoSpaceAndTheVolumeRecovers() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let host = dir + "/small"
            try FileSystem.makeDirectories(host)
            try Tool.check("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", host])
            defer { _ = try? Tool.run("umount", ["-l", host]) }
            let key = MasterKey.generate()
            let anchor = MemoryVolumeAnchor()
            let volume = try Volume.create(at: host + "/v", key: key, anchor: anchor, chunkSize: 65_536)
            try volume.put("kept", Array("kept".utf8))
            try volume.commit()
            try volume.put("big", [UInt8](repeating: 7, count: 4 << 20))
            do {
                try volume.commit()
                Issue.record("a 4 MiB commit fit on a 1 MiB disk")
            } catch let error as ArcaError {
                #expect(error.code == .noSpace, "\(error)")
            }
            // The failed commit left no chunk files behind: freeing the space lets it commit.
            let big = try volume.lookup(parent: Volume.rootInode, name: Array("big".utf8))
            _ = try volume.setAttributes(inode: big.inode, AttributeUpdate(size: 1000))
            try volume.commit()
            try volume.close()
            let reopened = try Volume.open(at: host + "/v", key: key, anchor: anchor)
            defer { try? reopened.close() }
            #expect(try reopened.get("kept") == Array("kept".utf8))
            #expect(try reopened.get("big") == [UInt8](repeating: 7, count: 1000))
        }
    }
}
