import ArcaArchive
import ArcaCore
import ArcaOCI
import ArcaTestSupport
import Testing

/// Both layouts `docker save` has written: the old one (`<id>/layer.tar`, repeated layers as
/// symlinks, `<id>.json` config) and the new one (Docker 25+: an OCI layout inside, with
/// manifest.json naming `blobs/sha256/…`), plus a gzip-compressed archive.
@Suite struct DockerArchiveLayoutTests {
    let layerA = (try? TarBuilder.tar([.file("a.txt", Array("a\n".utf8))])) ?? []
    let layerB = (try? TarBuilder.tar([.file("b.txt", Array("b\n".utf8)), .directory("dir")])) ?? []

    private func config(_ layers: [[UInt8]]) throws -> [UInt8] {
        try CanonicalJSON.encode(ImageConfig(architecture: "amd64", os: "linux", config: nil,
                                             rootfs: RootFS(diffIDs: layers.map { .sha256(of: $0) })))
    }

    private func entries(of path: String, name: String? = nil) throws -> [Int] {
        let source = try DockerArchiveReader(path: path, name: name)
        return try LayerScanner().scanAll(of: ImageResolver().resolve(source), from: source, parallelism: 2).map(\.entries)
    }

    @Test func oldLayoutWithSymlinkedRepeatedLayer() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let configBytes = try config([layerA, layerB, layerA])
            let manifest = #"[{"Config":"cfg.json","RepoTags":["old:1"],"Layers":["1111/layer.tar","2222/layer.tar","3333/layer.tar"]}]"#
            try FileSystem.writeAtomically(try TarBuilder.tar([
                .directory("1111"), .file("1111/layer.tar", layerA), .file("1111/VERSION", Array("1.0".utf8)),
                .directory("2222"), .file("2222/layer.tar", layerB),
                .directory("3333"), .symlink("3333/layer.tar", target: "../1111/layer.tar"),
                .file("cfg.json", configBytes), .file("manifest.json", Array(manifest.utf8)),
                .file("repositories", Array(#"{"old":{"1":"3333"}}"#.utf8)),
            ]), to: dir + "/old.tar")
            #expect(try entries(of: dir + "/old.tar") == [1, 2, 1])
            #expect(try entries(of: dir + "/old.tar", name: "old:1") == [1, 2, 1])
            let missing = #expect(throws: ArcaError.self) { try entries(of: dir + "/old.tar", name: "other:2") }
            #expect(missing?.message.contains("old:1") == true)
        }
    }

    @Test func newLayoutWithBlobPaths() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let configBytes = try config([layerA, layerB])
            let (a, b, c) = (Digest.sha256(of: layerA).encoded, Digest.sha256(of: layerB).encoded, Digest.sha256(of: configBytes).encoded)
            let manifest = #"[{"Config":"blobs/sha256/\#(c)","RepoTags":["new:1"],"Layers":["blobs/sha256/\#(a)","blobs/sha256/\#(b)"]}]"#
            let archive = try TarBuilder.tar([
                .directory("blobs"), .directory("blobs/sha256"),
                .file("blobs/sha256/\(a)", layerA), .file("blobs/sha256/\(b)", layerB), .file("blobs/sha256/\(c)", configBytes),
                .file("oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8)),
                .file("index.json", Array(#"{"schemaVersion":2,"manifests":[]}"#.utf8)),
                .file("manifest.json", Array(manifest.utf8)),
            ])
            try FileSystem.writeAtomically(archive, to: dir + "/new.tar")
            #expect(try entries(of: dir + "/new.tar") == [1, 2])
            try FileSystem.writeAtomically(try TarBuilder.gzip(archive), to: dir + "/new.tar.gz")
            #expect(try entries(of: dir + "/new.tar.gz") == [1, 2])
        }
    }

    @Test func layerMissingFromTheArchiveIsNamed() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let configBytes = try config([layerA])
            let manifest = #"[{"Config":"cfg.json","Layers":["gone/layer.tar"]}]"#
            try FileSystem.writeAtomically(try TarBuilder.tar([.file("cfg.json", configBytes), .file("manifest.json", Array(manifest.utf8))]),
                                           to: dir + "/bad.tar")
            let error = #expect(throws: ArcaError.self) { try DockerArchiveReader(path: dir + "/bad.tar", name: nil) }
            #expect(error?.message.contains("gone/layer.tar") == true)
        }
    }

    @Test func uncompressedLayerThatLiesAboutItsDiffIDIsCaught() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let configBytes = try config([layerB])  // says layer B, archive holds layer A
            let manifest = #"[{"Config":"cfg.json","Layers":["l.tar"]}]"#
            try FileSystem.writeAtomically(try TarBuilder.tar([.file("l.tar", layerA), .file("cfg.json", configBytes),
                                                               .file("manifest.json", Array(manifest.utf8))]), to: dir + "/lie.tar")
            let error = #expect(throws: ArcaError.self) { try entries(of: dir + "/lie.tar") }
            #expect(error?.code == .integrity)
        }
    }
}
