import ArcaCore
import ArcaOCI
import ArcaTestSupport
import Testing

/// Resolution of layouts to one image: indexes, platforms, tags, and the hostile cases of
/// manifests and blobs that lie about themselves.
@Suite struct ImageResolverTests {
    let layer: [UInt8] = Array(repeating: 0, count: 1024)  // an empty tar: two zero blocks
    var layerDiffID: Digest { .sha256(of: layer) }

    private func withLayout(_ body: (LayoutBuilder) throws -> Void) async throws {
        try await Fixture.withTemporaryDirectory { dir in try body(LayoutBuilder(path: dir + "/layout")) }
    }

    private func resolve(_ builder: LayoutBuilder, tag: String? = nil, platform: Platform = .linuxAMD64) throws -> ResolvedImage {
        try ImageResolver(platform: platform).resolve(OCILayout(readingFrom: builder.path, tag: tag))
    }

    @Test func resolvesATaggedImage() async throws {
        try await withLayout { layout in
            let manifest = try layout.image(layers: [(layer, layerDiffID, MediaType.ociLayer)])
            try layout.index([(manifest, "1.0")])
            let image = try resolve(layout, tag: "1.0")
            #expect(image.manifestDescriptor.digest == manifest.digest)
            #expect(image.diffIDs == [layerDiffID])
        }
    }

    @Test func picksThePlatformFromNestedIndexes() async throws {
        try await withLayout { layout in
            var amd = try layout.image(layers: [(layer, layerDiffID, MediaType.ociLayer)])
            amd.platform = .linuxAMD64
            var arm = try layout.image(layers: [], platform: Platform(os: "linux", architecture: "arm64", variant: "v8"))
            arm.platform = Platform(os: "linux", architecture: "arm64", variant: "v8")
            let inner = try layout.json(Index(manifests: [arm, amd]), mediaType: MediaType.ociIndex)
            let outer = try layout.json(Index(manifests: [inner]), mediaType: MediaType.ociIndex)
            try layout.index([(outer, "multi")])
            #expect(try resolve(layout, tag: "multi").manifestDescriptor.digest == amd.digest)
            #expect(try resolve(layout, tag: "multi", platform: Platform(parsing: "linux/arm64")).manifestDescriptor.digest == arm.digest)
            let error = #expect(throws: ArcaError.self) { try resolve(layout, tag: "multi", platform: Platform(parsing: "linux/s390x")) }
            #expect(error?.code == .notFound)
            #expect(error?.message.contains("linux/arm64/v8") == true)
        }
    }

    @Test func unknownTagListsTheTags() async throws {
        try await withLayout { layout in
            let manifest = try layout.image(layers: [])
            try layout.index([(manifest, "a"), (manifest, "b")])
            let error = #expect(throws: ArcaError.self) { try resolve(layout, tag: "c") }
            #expect(error?.message.contains("tags: a, b") == true)
            let ambiguous = #expect(throws: ArcaError.self) { try resolve(layout) }
            #expect(ambiguous?.message.contains("holds 2 images") == true)
        }
    }

    @Test func manifestWhoseContentIsAnIndexIsRefused() async throws {
        try await withLayout { layout in
            var index = try layout.json(Index(manifests: []), mediaType: MediaType.ociIndex)
            index.mediaType = MediaType.ociManifest
            try layout.index([(index, "x")])
            let error = #expect(throws: ArcaError.self) { try resolve(layout, tag: "x") }
            #expect(error?.code == .invalidFormat)
            #expect(error?.message.contains("described as a manifest") == true)
        }
    }

    @Test func manifestWhoseMediaTypeFieldDisagreesIsRefused() async throws {
        try await withLayout { layout in
            let config = try layout.json(ImageConfig(architecture: "amd64", os: "linux", config: nil, rootfs: RootFS(diffIDs: [])),
                                         mediaType: MediaType.ociConfig)
            var manifest = try layout.json(Manifest(mediaType: MediaType.dockerManifest, config: config, layers: []), mediaType: MediaType.ociManifest)
            manifest.mediaType = MediaType.ociManifest
            try layout.index([(manifest, "x")])
            let error = #expect(throws: ArcaError.self) { try resolve(layout, tag: "x") }
            #expect(error?.message.contains("declares media type \(MediaType.dockerManifest)") == true)
        }
    }

    @Test func malformedJSONNamesTheDocument() async throws {
        try await withLayout { layout in
            let broken = try layout.blob(Array(#"{"schemaVersion": 2, "config": "#.utf8), mediaType: MediaType.ociManifest)
            try layout.index([(broken, "x")])
            let error = #expect(throws: ArcaError.self) { try resolve(layout, tag: "x") }
            #expect(error?.code == .invalidFormat)
            #expect(error?.message.contains("manifest \(broken.digest.short)") == true)
        }
        try await withLayout { layout in
            try FileSystem.writeAtomically(Array("{not json".utf8), to: layout.path + "/index.json")
            let error = #expect(throws: ArcaError.self) { try resolve(layout) }
            #expect(error?.message.contains("index.json") == true)
        }
    }

    @Test func blobWithWrongDigestIsRefused() async throws {
        try await withLayout { layout in
            let manifest = try layout.image(layers: [(layer, layerDiffID, MediaType.ociLayer)])
            let bytes = try FileSystem.readFile(layout.path + "/blobs/sha256/\(manifest.digest.encoded)", limit: 1 << 20)
            var flipped = bytes
            flipped[flipped.count / 2] ^= 0x01
            try layout.replace(manifest, with: flipped)
            try layout.index([(manifest, "x")])
            let error = #expect(throws: ArcaError.self) { try resolve(layout, tag: "x") }
            #expect(error?.code == .integrity)
            #expect(error?.message.contains("digest mismatch") == true)
        }
    }

    @Test func truncatedAndOversizedBlobsAreRefused() async throws {
        try await withLayout { layout in
            let manifest = try layout.image(layers: [])
            let bytes = try FileSystem.readFile(layout.path + "/blobs/sha256/\(manifest.digest.encoded)", limit: 1 << 20)
            try layout.replace(manifest, with: Array(bytes.dropLast(3)))
            try layout.index([(manifest, "x")])
            let truncated = #expect(throws: ArcaError.self) { try resolve(layout, tag: "x") }
            #expect(truncated?.message.contains("truncated") == true)
            try layout.replace(manifest, with: bytes + [0x20])
            let longer = #expect(throws: ArcaError.self) { try resolve(layout, tag: "x") }
            #expect(longer?.message.contains("larger than its descriptor") == true)
        }
    }

    @Test func unknownLayerMediaTypeIsRefused() async throws {
        try await withLayout { layout in
            let manifest = try layout.image(layers: [(layer, layerDiffID, "application/vnd.oci.image.layer.v1.tar+encrypted")])
            try layout.index([(manifest, "x")])
            let error = #expect(throws: ArcaError.self) { try resolve(layout, tag: "x") }
            #expect(error?.code == .unsupported)
            #expect(error?.message.contains("+encrypted") == true)
        }
    }

    @Test func diffIDCountMismatchIsRefused() async throws {
        try await withLayout { layout in
            let config = try layout.json(ImageConfig(architecture: "amd64", os: "linux", config: nil, rootfs: RootFS(diffIDs: [])),
                                         mediaType: MediaType.ociConfig)
            let blob = try layout.blob(layer, mediaType: MediaType.ociLayer)
            let manifest = try layout.json(Manifest(config: config, layers: [blob]), mediaType: MediaType.ociManifest)
            try layout.index([(manifest, "x")])
            let error = #expect(throws: ArcaError.self) { try resolve(layout, tag: "x") }
            #expect(error?.message.contains("0 diff_ids but the manifest has 1 layers") == true)
        }
    }

    @Test func missingLayoutMarkerIsRefused() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let error = #expect(throws: ArcaError.self) { try OCILayout(readingFrom: dir, tag: nil) }
            #expect(error?.message.contains("no oci-layout file") == true)
        }
    }
}
