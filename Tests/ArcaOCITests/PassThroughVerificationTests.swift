import ArcaArchive
import ArcaCore
import ArcaOCI
import ArcaTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Layers passed through unchanged: the blob digest is always checked, the diff_id is checked on
/// a second thread beside the transfer, and a (blob, diff_id) pair proven once is remembered in
/// the user's `VerifiedLayerCache` and not decompressed again.
@Suite struct PassThroughVerificationTests {
    /// A one-layer gzip image whose config claims `claimed` (default: the true diff_id).
    private func image(at path: String, content: [UInt8], claimed: [UInt8]? = nil) throws -> (source: OCILayout, image: ResolvedImage) {
        let layer = try TarBuilder.tar([.file("data.bin", content)])
        let layout = try LayoutBuilder(path: path)
        let diffID = Digest.sha256(of: try claimed.map { try TarBuilder.tar([.file("data.bin", $0)]) } ?? layer)
        let manifest = try layout.image(layers: [(try TarBuilder.gzip(layer), diffID, MediaType.ociLayerGzip)])
        try layout.index([(manifest, "x")])
        let source = try OCILayout(readingFrom: path, tag: "x")
        return (source, try ImageResolver().resolve(source))
    }

    private func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed | 1
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    @Test func aProvenPairIsRecordedAndNotDecompressedAgain() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let cache = VerifiedLayerCache(directory: dir + "/cache")
            let (source, image) = try image(at: dir + "/in", content: bytes(3 << 20, seed: 1))
            let layer = image.layers[0]
            #expect(!cache.contains(blob: layer.digest, compression: .gzip, diffID: image.diffIDs[0]))
            let copier = ImageCopier(checkPassThroughDiffIDs: true, verifiedLayers: cache)
            let first = try copier.copy(image, from: source, to: OCILayout(writingTo: dir + "/a", tag: "x"))
            #expect(first == image.manifestDescriptor)
            #expect(cache.contains(blob: layer.digest, compression: .gzip, diffID: image.diffIDs[0]))
            #expect(!cache.contains(blob: layer.digest, compression: .zstd, diffID: image.diffIDs[0]))
            // The copy is byte for byte, and the second one (from the record) too.
            try copier.copy(image, from: source, to: OCILayout(writingTo: dir + "/b", tag: "x"))
            for out in ["a", "b"] {
                #expect(try FileSystem.readFile("\(dir)/\(out)/blobs/sha256/\(layer.digest.encoded)", limit: 8 << 20)
                    == FileSystem.readFile("\(dir)/in/blobs/sha256/\(layer.digest.encoded)", limit: 8 << 20))
            }
        }
    }

    @Test func aRecordedPairSkipsTheDiffIDCheckButNeverTheDigestCheck() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            // A config that lies about the diff_id: refused when checked...
            let (source, image) = try image(at: dir + "/in", content: Array("real".utf8), claimed: Array("fake".utf8))
            let layer = image.layers[0]
            let cache = VerifiedLayerCache(directory: dir + "/cache")
            let refused = #expect(throws: ArcaError.self) {
                try ImageCopier(checkPassThroughDiffIDs: true, verifiedLayers: cache).copy(image, from: source, to: OCILayout(writingTo: dir + "/out", tag: "x"))
            }
            #expect(refused?.code == .integrity)
            #expect(refused?.message.contains("does not match its diff_id") == true)
            #expect(!cache.contains(blob: layer.digest, compression: .gzip, diffID: image.diffIDs[0]))
            #expect(try FileSystem.listDirectory(dir + "/out/blobs/sha256").isEmpty)

            // ...and passed when the record says so: the record is trusted as the user's own,
            // which is why it must live in a private directory (next test).
            cache.record(blob: layer.digest, compression: .gzip, diffID: image.diffIDs[0])
            try ImageCopier(checkPassThroughDiffIDs: true, verifiedLayers: cache).copy(image, from: source, to: OCILayout(writingTo: dir + "/out", tag: "x"))

            // The blob digest is still checked on a recorded pair: tampered bytes stop the copy.
            var stored = try FileSystem.readFile("\(dir)/in/blobs/sha256/\(layer.digest.encoded)", limit: 1 << 20)
            stored[stored.count / 2] ^= 0x01
            try FileSystem.writeAtomically(stored, to: "\(dir)/in/blobs/sha256/\(layer.digest.encoded)")
            let tampered = #expect(throws: ArcaError.self) {
                try ImageCopier(checkPassThroughDiffIDs: true, verifiedLayers: cache).copy(image, from: source, to: OCILayout(writingTo: dir + "/out2", tag: "x"))
            }
            #expect(tampered?.code == .integrity)
            #expect(tampered?.message.contains("digest mismatch") == true)
            #expect(try FileSystem.listDirectory(dir + "/out2/blobs/sha256").isEmpty)
        }
    }

    @Test func aCacheDirectoryOthersCanWriteIsIgnored() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            try FileSystem.makeDirectories(dir + "/shared")
            #expect(chmod(dir + "/shared", 0o777) == 0)
            let cache = VerifiedLayerCache(directory: dir + "/shared")
            let blob = Digest.sha256(of: Array("b".utf8)), diffID = Digest.sha256(of: Array("d".utf8))
            cache.record(blob: blob, compression: .gzip, diffID: diffID)
            #expect(!cache.contains(blob: blob, compression: .gzip, diffID: diffID))
            #expect(try FileSystem.listDirectory(dir + "/shared").isEmpty)

            let own = VerifiedLayerCache(directory: dir + "/own/verified")
            own.record(blob: blob, compression: .gzip, diffID: diffID)
            #expect(own.contains(blob: blob, compression: .gzip, diffID: diffID))
            #expect(!own.contains(blob: blob, compression: .gzip, diffID: blob))
            var info = stat()
            #expect(stat(dir + "/own/verified", &info) == 0 && info.st_mode & 0o777 == 0o700)
        }
    }

    @Test func corruptGzipInAVerifiedBlobStopsThePassThrough() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            // The blob matches its digest (the manifest names these bytes) but is not gzip past its
            // header: the background check fails and the transfer stops, nothing is kept.
            let layer = try TarBuilder.tar([.file("a", bytes(1 << 20, seed: 3))])
            var gzip = try TarBuilder.gzip(layer)
            for index in stride(from: 64, to: gzip.count - 16, by: 97) { gzip[index] ^= 0x5a }
            let layout = try LayoutBuilder(path: dir + "/in")
            let manifest = try layout.image(layers: [(gzip, .sha256(of: layer), MediaType.ociLayerGzip)])
            try layout.index([(manifest, "x")])
            let source = try OCILayout(readingFrom: dir + "/in", tag: "x")
            let image = try ImageResolver().resolve(source)
            let error = #expect(throws: ArcaError.self) {
                try ImageCopier(checkPassThroughDiffIDs: true).copy(image, from: source, to: OCILayout(writingTo: dir + "/out", tag: "x"))
            }
            #expect(error?.code == .integrity || error?.code == .invalidFormat)
            #expect(try FileSystem.listDirectory(dir + "/out/blobs/sha256").isEmpty)
        }
    }
}
