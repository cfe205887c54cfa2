import ArcaCore
import ArcaCrypto
import ArcaTestSupport
import Testing
@testable import ArcaVolume

#if canImport(Glibc)
import Glibc
#endif

/// The host may change any file of the volume directory: the result is an integrity error on
/// read (EIO through FUSE) or a refusal at open, never wrong bytes.
@Suite struct VolumeTamperTests {
    /// A volume with two files of three chunks each; returns the chunk file of each (file, index).
    private func populate(_ fixture: VolumeFixture) throws -> [String: [String]] {
        let volume = try fixture.open()
        var random = TestRandom(seed: 5)
        try volume.put("one", random.bytes(3 * 4096))
        try volume.put("two", random.bytes(3 * 4096))
        try volume.put("untouched", random.bytes(100))
        try volume.close()
        let reopened = try fixture.open()
        defer { reopened.abandon() }
        var map: [String: [String]] = [:]
        for name in ["one", "two"] {
            let node = reopened.tree.nodes[try reopened.lookup(parent: Volume.rootInode, name: Array(name.utf8)).inode]!
            map[name] = node.chunks.keys.sorted().map { node.chunks[$0]!.storageName }
        }
        return map
    }

    private func expectIntegrityError(_ fixture: VolumeFixture, _ name: String) throws {
        let volume = try fixture.open()
        defer { volume.abandon() }
        #expect { _ = try volume.get(name) } throws: { ($0 as? ArcaError)?.code == .integrity }
        #expect(try volume.get("untouched").count == 100, "untouched files still read")
    }

    private func chunkPath(_ fixture: VolumeFixture, _ name: String) -> String { fixture.host + "/chunks/" + name }

    @Test func aFlippedBitInAChunkIsAnIntegrityError() async throws {
        try await VolumeFixture.with { fixture in
            let chunks = try populate(fixture)
            for offset in [0, 2000, 4095, 4096 + 3] {  // ciphertext and tag
                let path = chunkPath(fixture, chunks["one"]![1])
                var bytes = try FileSystem.readFile(path, limit: 1 << 20)
                bytes[offset] ^= 0x10
                try FileSystem.writeAtomically(bytes, to: path)
                try expectIntegrityError(fixture, "one")
                bytes[offset] ^= 0x10
                try FileSystem.writeAtomically(bytes, to: path)
            }
        }
    }

    @Test func aTruncatedOrMissingChunkIsAnIntegrityErrorOrNotFound() async throws {
        try await VolumeFixture.with { fixture in
            let chunks = try populate(fixture)
            let path = chunkPath(fixture, chunks["one"]![2])
            let bytes = try FileSystem.readFile(path, limit: 1 << 20)
            for length in [0, 1, 4095, 4096, bytes.count - 1] {
                try FileSystem.writeAtomically(Array(bytes.prefix(length)), to: path)
                try expectIntegrityError(fixture, "one")
            }
            try FileSystem.writeAtomically(bytes + [0], to: path)
            try expectIntegrityError(fixture, "one")
            unlink(path)
            let volume = try fixture.open()
            defer { volume.abandon() }
            #expect { _ = try volume.get("one") } throws: { $0 is ArcaError }
        }
    }

    @Test func swappedChunksWithinAFileBetweenFilesOrSwappedNamesFail() async throws {
        try await VolumeFixture.with { fixture in
            let chunks = try populate(fixture)
            func swap(_ a: String, _ b: String) throws {
                let bytesA = try FileSystem.readFile(chunkPath(fixture, a), limit: 1 << 20)
                let bytesB = try FileSystem.readFile(chunkPath(fixture, b), limit: 1 << 20)
                try FileSystem.writeAtomically(bytesB, to: chunkPath(fixture, a))
                try FileSystem.writeAtomically(bytesA, to: chunkPath(fixture, b))
            }
            try swap(chunks["one"]![0], chunks["one"]![1])  // within a file
            try expectIntegrityError(fixture, "one")
            try swap(chunks["one"]![0], chunks["one"]![1])
            try swap(chunks["one"]![2], chunks["two"]![2])  // same index, another file
            try expectIntegrityError(fixture, "one")
            try expectIntegrityError(fixture, "two")
            try swap(chunks["one"]![2], chunks["two"]![2])
            let volume = try fixture.open()
            #expect(try volume.get("one").count == 3 * 4096, "restored swaps read again")
            volume.abandon()
        }
    }

    @Test func anOlderCopyOfTheDirectoryOrOfItsMetadataIsRefusedNamingBothVersions() async throws {
        try await VolumeFixture.with { fixture in
            _ = try populate(fixture)
            let snapshot = fixture.directory + "/snapshot"
            try Tool.check("/bin/cp", ["-a", fixture.host, snapshot])
            let oldMeta = try fixture.metadataFiles()[0]
            let volume = try fixture.open()
            try volume.put("one", [1])
            try volume.close()
            let current = try fixture.open()
            let version = current.version
            current.abandon()

            // Replace only the metadata by the older one.
            try FileSystem.writeAtomically(try FileSystem.readFile(snapshot + "/meta/" + oldMeta, limit: 1 << 20),
                                           to: fixture.host + "/meta/" + MetadataFile.name(version: version))
            #expect { _ = try fixture.open() } throws: {
                ($0 as? ArcaError)?.code == .rollback && "\($0)".contains("version \(version)")
            }

            // Restore the whole older copy.
            try FileSystem.removeTree(fixture.host)
            try Tool.check("/bin/cp", ["-a", snapshot, fixture.host])
            #expect { _ = try fixture.open() } throws: { error in
                let text = "\(error)"
                return (error as? ArcaError)?.code == .rollback && text.contains("version \(version - 1)") && text.contains("version \(version)")
            }
        }
    }

    @Test func aFlippedBitAnywhereInTheMetadataIsRefused() async throws {
        try await VolumeFixture.with { fixture in
            _ = try populate(fixture)
            let path = fixture.host + "/meta/" + (try fixture.metadataFiles()[0])
            let bytes = try FileSystem.readFile(path, limit: 1 << 20)
            for offset in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 40)) {
                var changed = bytes
                changed[offset] ^= 0x01
                try FileSystem.writeAtomically(changed, to: path)
                #expect { _ = try fixture.open() } throws: { ($0 as? ArcaError)?.code == .rollback }
            }
        }
    }

    @Test func chunkFilesFromAnOlderCopyAreNotServed() async throws {
        try await VolumeFixture.with { fixture in
            _ = try populate(fixture)
            let snapshot = fixture.directory + "/snapshot"
            try Tool.check("/bin/cp", ["-a", fixture.host, snapshot])
            let volume = try fixture.open()
            var random = TestRandom(seed: 6)
            try volume.put("one", random.bytes(3 * 4096))
            try volume.close()
            // Mix: current metadata, the old copy's chunk of "one" under each current name.
            let old = try FileSystem.listDirectory(snapshot + "/chunks").sorted()
            for (index, name) in try fixture.chunkFiles().enumerated() {
                let other = (0..<old.count).map { old[($0 + index) % old.count] }.first { $0 != name }!
                try FileSystem.writeAtomically(try FileSystem.readFile(snapshot + "/chunks/" + other, limit: 1 << 20),
                                               to: fixture.host + "/chunks/" + name)
            }
            let reopened = try fixture.open()
            defer { reopened.abandon() }
            for name in ["one", "two", "untouched"] {
                #expect { _ = try reopened.get(name) } throws: { ($0 as? ArcaError)?.code == .integrity }
            }
        }
    }
}
