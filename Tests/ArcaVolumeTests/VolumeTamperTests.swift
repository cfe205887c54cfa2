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
    /// A volume with two files of three chunks each (in one segment) and an untouched file (in an
    /// older segment); returns the chunk references of each file by index.
    private func populate(_ fixture: VolumeFixture) throws -> [String: [ChunkReference]] {
        let volume = try fixture.open()
        var random = TestRandom(seed: 5)
        try volume.put("untouched", random.bytes(100))
        try volume.commit()
        try volume.put("one", random.bytes(3 * 4096))
        try volume.put("two", random.bytes(3 * 4096))
        try volume.close()
        let reopened = try fixture.open()
        defer { reopened.abandon() }
        let map = ["one": try reopened.chunks(of: "one"), "two": try reopened.chunks(of: "two")]
        #expect(try reopened.chunks(of: "untouched")[0].segment != map["one"]![0].segment)
        return map
    }

    private func expectIntegrityError(_ fixture: VolumeFixture, _ name: String, untouchedReads: Bool = true) throws {
        let volume = try fixture.open()
        defer { volume.abandon() }
        #expect { _ = try volume.get(name) } throws: { ($0 as? ArcaError)?.code == .integrity }
        if untouchedReads { #expect(try volume.get("untouched").count == 100, "untouched files still read") }
    }

    @Test func aFlippedBitInAChunkIsAnIntegrityError() async throws {
        try await VolumeFixture.with { fixture in
            let chunk = try populate(fixture)["one"]![1]
            for offset in [0, 2000, 4095, 4096 + 3] {  // ciphertext and tag
                let at = Int(chunk.offset) + offset
                try fixture.editSegment(chunk.segment) { $0[at] ^= 0x10 }
                try expectIntegrityError(fixture, "one")
                try fixture.editSegment(chunk.segment) { $0[at] ^= 0x10 }
            }
        }
    }

    @Test func aTruncatedShiftedOrMissingSegmentIsAnIntegrityErrorOrNotFound() async throws {
        try await VolumeFixture.with { fixture in
            let chunk = try populate(fixture)["one"]![2]
            let path = fixture.segmentPath(chunk.segment)
            let bytes = try FileSystem.readFile(path, limit: 1 << 24)
            for length in [0, 1, 4095, 4096, chunk.sealedSize - 1] {  // cut inside the chunk
                try FileSystem.writeAtomically(Array(bytes.prefix(Int(chunk.offset) + length)), to: path)
                try expectIntegrityError(fixture, "one")
            }
            for shift in [1, 16, 4096] {  // bytes inserted before the chunk
                var shifted = bytes
                shifted.insert(contentsOf: [UInt8](repeating: 0, count: shift), at: Int(chunk.offset))
                try FileSystem.writeAtomically(shifted, to: path)
                try expectIntegrityError(fixture, "one")
            }
            try FileSystem.writeAtomically(bytes, to: path)
            unlink(path)
            let volume = try fixture.open()
            defer { volume.abandon() }
            #expect { _ = try volume.get("one") } throws: { $0 is ArcaError }
            #expect(try volume.get("untouched").count == 100)
        }
    }

    @Test func swappedChunksWithinAFileBetweenFilesOrSwappedSegmentsFail() async throws {
        try await VolumeFixture.with { fixture in
            let chunks = try populate(fixture)
            func swap(_ a: ChunkReference, _ b: ChunkReference) throws {
                let bytesA = try fixture.sealedBytes(a), bytesB = try fixture.sealedBytes(b)
                try fixture.editSegment(a.segment) { $0.replaceSubrange(Int(a.offset)..<Int(a.offset) + a.sealedSize, with: bytesB) }
                try fixture.editSegment(b.segment) { $0.replaceSubrange(Int(b.offset)..<Int(b.offset) + b.sealedSize, with: bytesA) }
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
            let untouched = try volume.chunks(of: "untouched")[0].segment
            volume.abandon()
            // Two segment files swapped by name.
            let a = fixture.segmentPath(untouched), b = fixture.segmentPath(chunks["one"]![0].segment)
            try Posix.check(rename(a, a + ".x"))
            try Posix.check(rename(b, a))
            try Posix.check(rename(a + ".x", b))
            try expectIntegrityError(fixture, "one", untouchedReads: false)
            try expectIntegrityError(fixture, "untouched", untouchedReads: false)
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

    @Test func segmentsFromAnOlderCopyAreNotServed() async throws {
        try await VolumeFixture.with { fixture in
            _ = try populate(fixture)
            let snapshot = fixture.directory + "/snapshot"
            try Tool.check("/bin/cp", ["-a", fixture.host, snapshot])
            let volume = try fixture.open()
            var random = TestRandom(seed: 6)
            try volume.put("one", random.bytes(3 * 4096))
            try volume.close()
            // Mix: current metadata, each current segment name holding another segment of the old copy.
            let old = try FileSystem.listDirectory(snapshot + "/segments").sorted()
            for (index, name) in try fixture.segmentFiles().enumerated() {
                let other = (0..<old.count).map { old[($0 + index) % old.count] }.first { $0 != name }!
                try FileSystem.writeAtomically(try FileSystem.readFile(snapshot + "/segments/" + other, limit: 1 << 24),
                                               to: fixture.host + "/segments/" + name)
            }
            let reopened = try fixture.open()
            defer { reopened.abandon() }
            for name in ["one", "two", "untouched"] {
                #expect { _ = try reopened.get(name) } throws: { ($0 as? ArcaError)?.code == .integrity }
            }
        }
    }
}
