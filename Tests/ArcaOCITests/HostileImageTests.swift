import ArcaArchive
import ArcaCore
import ArcaOCI
import ArcaTestSupport
import Testing

/// Images that lie: each is refused with an error naming the bad thing, and nothing is written
/// outside the target or left half-written in the destination.
@Suite struct HostileImageTests {
    // MARK: docker-archive

    /// Writes a docker-archive whose members are given as is.
    private func archive(_ members: [TarBuilder.Member], at path: String) throws {
        try FileSystem.writeAtomically(TarBuilder.tar(members), to: path)
    }

    private func validArchiveMembers(manifest: String? = nil) throws -> [TarBuilder.Member] {
        let layer = try TarBuilder.tar([.file("hello.txt", Array("hi\n".utf8))])
        let diffID = Digest.sha256(of: layer)
        let config = try CanonicalJSON.encode(ImageConfig(architecture: "amd64", os: "linux", config: nil, rootfs: RootFS(diffIDs: [diffID])))
        let configName = "\(Digest.sha256(of: config).encoded).json"
        let manifestText = manifest ?? #"[{"Config":"\#(configName)","RepoTags":["app:1"],"Layers":["\#(diffID.encoded).tar"]}]"#
        return [.file("\(diffID.encoded).tar", layer), .file(configName, config), .file("manifest.json", Array(manifestText.utf8))]
    }

    @Test func wellFormedArchiveIsRead() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            try archive(validArchiveMembers(), at: dir + "/ok.tar")
            let source = try DockerArchiveReader(path: dir + "/ok.tar", name: "app:1")
            let image = try ImageResolver().resolve(source)
            #expect(try LayerScanner().scanAll(of: image, from: source, parallelism: 2).map(\.entries) == [1])
        }
    }

    @Test(arguments: [#"[{"Config":"../../etc/passwd","Layers":[]}]"#, #"[{"Config":"/etc/passwd","Layers":[]}]"#,
                      #"[{"Config":"a/../../b.json","Layers":[]}]"#])
    func manifestPointingOutsideTheArchiveIsRefused(_ manifest: String) async throws {
        try await Fixture.withTemporaryDirectory { dir in
            try archive(validArchiveMembers(manifest: manifest), at: dir + "/bad.tar")
            let error = #expect(throws: ArcaError.self) { try DockerArchiveReader(path: dir + "/bad.tar", name: nil) }
            #expect(error?.code == .unsafePath)
            #expect(error?.message.contains("points outside the archive") == true)
        }
    }

    @Test func symlinkEscapingTheArchiveIsRefused() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            var members = try validArchiveMembers(manifest: #"[{"Config":"c.json","Layers":["l/layer.tar"]}]"#)
            members.append(.symlink("l/layer.tar", target: "../../../../etc/passwd"))
            try archive(members, at: dir + "/bad.tar")
            let error = #expect(throws: ArcaError.self) { try DockerArchiveReader(path: dir + "/bad.tar", name: nil) }
            #expect(error?.code == .unsafePath)
            #expect(error?.message.contains("l/layer.tar") == true)
        }
    }

    @Test func archiveWithoutManifestIsRefused() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            try archive([.file("readme", Array("x".utf8))], at: dir + "/bad.tar")
            let error = #expect(throws: ArcaError.self) { try DockerArchiveReader(path: dir + "/bad.tar", name: nil) }
            #expect(error?.message.contains("has no manifest.json") == true)
        }
    }

    @Test func malformedManifestJSONNamesTheFile() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            try archive(validArchiveMembers(manifest: #"[{"Config": 7"#), at: dir + "/bad.tar")
            let error = #expect(throws: ArcaError.self) { try DockerArchiveReader(path: dir + "/bad.tar", name: nil) }
            #expect(error?.code == .invalidFormat)
            #expect(error?.message.contains("manifest.json") == true)
        }
    }

    @Test func layerNotMatchingItsDiffIDIsRefusedAndNothingIsCommitted() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layer = try TarBuilder.tar([.file("a", Array("one".utf8))])
            let other = try TarBuilder.tar([.file("a", Array("two".utf8))])
            let config = try CanonicalJSON.encode(ImageConfig(architecture: "amd64", os: "linux", config: nil,
                                                              rootfs: RootFS(diffIDs: [.sha256(of: other)])))
            let layout = try LayoutBuilder(path: dir + "/in")
            let configDescriptor = try layout.blob(config, mediaType: MediaType.ociConfig)
            let layerDescriptor = try layout.blob(TarBuilder.gzip(layer), mediaType: MediaType.ociLayerGzip)
            let manifest = try layout.json(Manifest(config: configDescriptor, layers: [layerDescriptor]), mediaType: MediaType.ociManifest)
            try layout.index([(manifest, "x")])

            // The destination already holds another image; it must survive the failed copy untouched.
            let destination = try LayoutBuilder(path: dir + "/out")
            let existing = try destination.image(layers: [])
            try destination.index([(existing, "keep")])
            let indexBefore = try FileSystem.readFile(dir + "/out/index.json", limit: 1 << 20)

            let source = try OCILayout(readingFrom: dir + "/in", tag: "x")
            let image = try ImageResolver().resolve(source)
            // Recompressing (zstd) always decompresses, so always checks; passing through (gzip)
            // checks when asked to.
            for compression in [LayerCompression.gzip, .zstd] {
                let error = #expect(throws: ArcaError.self) {
                    try ImageCopier(compression: compression, checkPassThroughDiffIDs: compression == .gzip)
                        .copy(image, from: source, to: OCILayout(writingTo: dir + "/out", tag: "new"))
                }
                #expect(error?.code == .integrity)
                #expect(error?.message.contains("does not match its diff_id") == true)
            }
            #expect(try FileSystem.readFile(dir + "/out/index.json", limit: 1 << 20) == indexBefore)
            #expect(try FileSystem.listDirectory(dir + "/out/blobs/sha256").allSatisfy { !$0.hasPrefix(".ingest") })

            // By default a pass-through forwards the blob its digest pins, unchanged; whoever
            // reads its content checks the diff_id there and refuses it.
            try ImageCopier().copy(image, from: source, to: OCILayout(writingTo: dir + "/fwd", tag: "x"))
            let forwarded = try OCILayout(readingFrom: dir + "/fwd", tag: "x")
            let use = #expect(throws: ArcaError.self) {
                try LayerScanner().scanAll(of: ImageResolver().resolve(forwarded), from: forwarded, parallelism: 1)
            }
            #expect(use?.message.contains("diff_id") == true)
        }
    }

    @Test func corruptedLayerBlobStopsTheCopy() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layer = try TarBuilder.tar([.file("a", [UInt8](repeating: 7, count: 100_000))])
            let layout = try LayoutBuilder(path: dir + "/in")
            let manifest = try layout.image(layers: [(try TarBuilder.gzip(layer), .sha256(of: layer), MediaType.ociLayerGzip)])
            try layout.index([(manifest, "x")])
            let source = try OCILayout(readingFrom: dir + "/in", tag: "x")
            let image = try ImageResolver().resolve(source)
            var stored = try FileSystem.readFile(dir + "/in/blobs/sha256/\(image.layers[0].digest.encoded)", limit: 1 << 20)
            stored[stored.count / 2] ^= 0x40
            try layout.replace(image.layers[0], with: stored)
            let error = #expect(throws: ArcaError.self) {
                try ImageCopier().copy(image, from: source, to: DockerArchiveWriter(path: dir + "/out.tar", name: nil))
            }
            #expect(error?.code == .integrity || error?.code == .invalidFormat)
            #expect(!FileSystem.exists(dir + "/out.tar"))
        }
    }

    @Test func decompressionBombIsStoppedAtTheLimit() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layer = try TarBuilder.tar([.file("zeros", [UInt8](repeating: 0, count: 4 << 20))])
            let layout = try LayoutBuilder(path: dir + "/in")
            let manifest = try layout.image(layers: [(try TarBuilder.gzip(layer), .sha256(of: layer), MediaType.ociLayerGzip)])
            try layout.index([(manifest, "x")])
            let source = try OCILayout(readingFrom: dir + "/in", tag: "x")
            let image = try ImageResolver().resolve(source)
            var limits = ArchiveLimits()
            limits.maxLayerSize = 1 << 20
            let error = #expect(throws: ArcaError.self) { try LayerScanner(limits: limits).scanAll(of: image, from: source, parallelism: 1) }
            #expect(error?.code == .limitExceeded)
            #expect(error?.message.contains("1 MiB") == true || error?.message.contains("1048576") == true)
        }
    }

    @Test(arguments: ["../escape.txt", "a/../../escape.txt"])
    func traversingLayerWritesNothingOutsideTheTarget(_ name: String) async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layer = TarBuilder.rawEntry(name: name, content: Array("bad".utf8)) + TarBuilder.endOfArchive
            let layout = try LayoutBuilder(path: dir + "/in")
            let manifest = try layout.image(layers: [(layer, .sha256(of: layer), MediaType.ociLayer)])
            try layout.index([(manifest, "x")])
            let source = try OCILayout(readingFrom: dir + "/in", tag: "x")
            let image = try ImageResolver().resolve(source)
            try FileSystem.makeDirectories(dir + "/target/rootfs")
            let error = #expect(throws: ArcaError.self) { try LayerScanner().extract(image, from: source, into: dir + "/target/rootfs") }
            #expect(error?.code == .unsafePath)
            #expect(!FileSystem.exists(dir + "/target/escape.txt"))
            #expect(!FileSystem.exists(dir + "/escape.txt"))
        }
    }
}
