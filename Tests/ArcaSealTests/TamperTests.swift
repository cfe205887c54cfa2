import ArcaMeasurement
import ArcaArchive
import ArcaCore
import ArcaCrypto
import ArcaOCI
import ArcaSeal
import ArcaTestSupport
import Testing

/// A host that changes a sealed image and fixes up every digest it can: `arca verify` (and the
/// measurement the keeper checks) still catches it, naming the place.
@Suite struct SealTamperTests {
    let key = (try? MasterKey(bytes: Array(repeating: 0x42, count: 32)))!

    private func tar(_ entries: [(TarEntry, [UInt8]?)]) throws -> [UInt8] {
        try TarBuilder.tar(entries.map { .raw($0.0, $0.1) })
    }

    private func verify(_ dir: String, tag: String, key: MasterKey?) throws {
        let source = try OCILayout(readingFrom: dir + "/out", tag: tag)
        _ = try SealedImageReader().verify(ImageResolver().resolve(source), from: source, masterKey: key)
    }

    @Test func flippedBitInTheEncryptedBlobIsFoundWithTheKey() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            _ = try SealerTests.seal(dir, SealerTests.options(dir))
            let layout = try LayoutBuilder(path: dir + "/out")
            var entries = try layout.layerEntries(of: "sealed", at: 4)  // the blob layer of the app layer's stream
            let position = try #require(entries.firstIndex { $0.0.path.hasPrefix(SealedLayout.blobDirectory + "/") })
            entries[position].1![200] ^= 0x01
            try layout.replaceLayer(of: "sealed", at: 4, with: tar(entries), newTag: "evil")
            try verify(dir, tag: "evil", key: nil)  // the index and the authenticated files are untouched
            let error = #expect(throws: ArcaError.self) { try verify(dir, tag: "evil", key: key) }
            #expect(error?.code == .integrity)
            #expect(error?.message.contains("chunk 0") == true, "\(error?.message ?? "")")
        }
    }

    @Test func indexFromAnOlderSealIsRefused() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            // An older seal of the same image (different app content), same key.
            let (oldSource, oldImage) = try SealerTests.nativeImage(in: dir + "/old", appText: "print('old')\n")
            _ = try Sealer(options: SealerTests.options(dir)).seal(oldImage, from: oldSource, to: OCILayout(writingTo: dir + "/old/out", tag: "old"))
            let oldIndex = try LayoutBuilder(path: dir + "/old/out").layerEntries(of: "old", at: 5).first { $0.0.path == SealedLayout.indexPath }!

            _ = try SealerTests.seal(dir, SealerTests.options(dir))
            let layout = try LayoutBuilder(path: dir + "/out")
            var entries = try layout.layerEntries(of: "sealed", at: 5)
            let position = try #require(entries.firstIndex { $0.0.path == SealedLayout.indexPath })
            entries[position] = oldIndex
            try layout.replaceLayer(of: "sealed", at: 5, with: tar(entries), newTag: "rolled-back")
            let error = #expect(throws: ArcaError.self) { try verify(dir, tag: "rolled-back", key: nil) }
            #expect(error?.code == .integrity)
            #expect(error?.message.contains("shield index root") == true)
        }
    }

    @Test func changedAuthenticatedFileIsNamedByVerify() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            _ = try SealerTests.seal(dir, SealerTests.options(dir))
            let layout = try LayoutBuilder(path: dir + "/out")
            var entries = try layout.layerEntries(of: "sealed", at: 0)
            let position = try #require(entries.firstIndex { $0.0.path == "bin/tool" })
            entries[position].1![66_000] ^= 0x80  // inside the second 64 KiB chunk
            try layout.replaceLayer(of: "sealed", at: 0, with: tar(entries), newTag: "evil")
            // The measured config names the original layer: measure refuses the image outright…
            let source = try OCILayout(readingFrom: dir + "/out", tag: "evil")
            let measure = #expect(throws: ArcaError.self) { try SealedImageReader().read(ImageResolver().resolve(source), from: source) }
            #expect(measure?.message.contains("layer 1") == true)
        }
    }

    @Test func swappedEncryptedAndAuthenticatedContentIsCaught() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            _ = try SealerTests.seal(dir, SealerTests.options(dir))
            let layout = try LayoutBuilder(path: dir + "/out")
            var entries = try layout.layerEntries(of: "sealed", at: 4)
            // Replace the blob with one of the same size from another key: every chunk fails.
            let other = dir + "/other"
            try FileSystem.makeDirectories(other)
            _ = try SealerTests.seal(other, SealerTests.options(other, key: MasterKey(bytes: Array(repeating: 0x07, count: 32))))
            let isBlob = { (path: String) in path.hasPrefix(SealedLayout.blobDirectory + "/") }
            let foreign = try #require(try LayoutBuilder(path: other + "/out").layerEntries(of: "sealed", at: 4).first { isBlob($0.0.path) })
            let position = try #require(entries.firstIndex { isBlob($0.0.path) })
            entries[position].1 = foreign.1  // same name, another key's bytes
            try layout.replaceLayer(of: "sealed", at: 4, with: tar(entries), newTag: "swapped")
            let error = #expect(throws: ArcaError.self) { try verify(dir, tag: "swapped", key: key) }
            #expect(error?.code == .integrity)
        }
    }
}
