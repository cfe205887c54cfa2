import ArcaArchive
import ArcaCore
import ArcaOCI
import ArcaTestSupport
import Foundation
import Testing

/// Arca against the tools people already trust: images written by umoci and skopeo are read by
/// arca with the same tree; images written by arca are read by skopeo and unpacked by umoci into
/// the same tree.
@Suite(.serialized) struct PeerInteropTests {
    /// Extracts `reference` with arca's own safe extractor and returns the tree manifest.
    static func arcaTree(_ reference: String, into directory: String) throws -> [String] {
        let source = try ImageStores.source(ImageReference(parsing: reference))
        let image = try ImageResolver().resolve(source)
        try FileSystem.makeDirectories(directory)
        _ = try LayerScanner().extract(image, from: source, into: directory)
        return try TreeManifest.lines(directory: directory)
    }

    @Test func umociImageIsReadByArcaWithTheSameTree() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try SampleImages.umociImage(in: dir)
            let expected = try SampleImages.umociTree(layout: layout, tag: "sample", bundle: dir + "/umoci-bundle")
            #expect(expected.contains { $0.contains("etc/passwd-hardlink") })
            #expect(!expected.contains { $0.contains("remove-me") })
            let tree = try Self.arcaTree("oci:\(layout):sample", into: dir + "/arca-rootfs")
            #expect(tree == expected)

            let report = try Tool.arca("inspect", "--format", "json", "oci:\(layout):sample")
            #expect(report.status == 0, "\(report.stderr)")
            let json = try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: Any]
            #expect(json?["entrypoint"] as? [String] == ["/bin/sh"])
            #expect(json?["workingDir"] as? String == "/opt/app")
            #expect(json?["exposedPorts"] as? [String] == ["8080/tcp"])
            #expect(json?["volumes"] as? [String] == ["/data"])
            #expect((json?["layers"] as? [[String: Any]])?.count == 2)
        }
    }

    @Test(arguments: [LayerCompression.gzip, .zstd, .none])
    func arcaWrittenLayoutIsReadBySkopeoAndUmoci(_ compression: LayerCompression) async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try SampleImages.umociImage(in: dir)
            let expected = try SampleImages.umociTree(layout: layout, tag: "sample", bundle: dir + "/b1")
            let copy = try Tool.arca("copy", "--compression", compression.rawValue, "oci:\(layout):sample", "oci:\(dir)/out:copied")
            #expect(copy.status == 0, "\(copy.stderr)")
            let inspect = try Tool.run("skopeo", ["inspect", "oci:\(dir)/out:copied"])
            #expect(inspect.status == 0, "\(inspect.stderr)")
            #expect(inspect.stdout.contains("GREETING=hello"))
            try Tool.check("skopeo", ["copy", "oci:\(dir)/out:copied", "dir:\(dir)/skopeo-dir"])
            #expect(FileSystem.exists(dir + "/skopeo-dir/manifest.json"))
            if compression != .zstd {  // Debian's umoci 0.4.7 predates zstd layers
                #expect(try SampleImages.umociTree(layout: dir + "/out", tag: "copied", bundle: dir + "/b2") == expected)
            }
            #expect(try Self.arcaTree("oci:\(dir)/out:copied", into: dir + "/arca") == expected)
        }
    }

    @Test func arcaWrittenDockerArchiveIsReadBySkopeo() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try SampleImages.umociImage(in: dir)
            let expected = try SampleImages.umociTree(layout: layout, tag: "sample", bundle: dir + "/b1")
            let copy = try Tool.arca("copy", "oci:\(layout):sample", "docker-archive:\(dir)/image.tar:sample/app:1.0")
            #expect(copy.status == 0, "\(copy.stderr)")
            let inspect = try Tool.check("skopeo", ["inspect", "docker-archive:\(dir)/image.tar"])
            #expect(inspect.stdout.contains("GREETING=hello"))
            try Tool.check("skopeo", ["copy", "docker-archive:\(dir)/image.tar", "oci:\(dir)/via-skopeo:back"])
            #expect(try SampleImages.umociTree(layout: dir + "/via-skopeo", tag: "back", bundle: dir + "/b2") == expected)
        }
    }

    @Test func skopeoWrittenImagesAreReadByArca() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try SampleImages.umociImage(in: dir)
            let expected = try SampleImages.umociTree(layout: layout, tag: "sample", bundle: dir + "/b1")
            try Tool.check("skopeo", ["copy", "oci:\(layout):sample", "docker-archive:\(dir)/skopeo.tar:sample:1"])
            #expect(try Self.arcaTree("docker-archive:\(dir)/skopeo.tar", into: dir + "/from-archive") == expected)
            #expect(try Self.arcaTree("docker-archive:\(dir)/skopeo.tar:sample:1", into: dir + "/by-name") == expected)
            try Tool.check("skopeo", ["copy", "--dest-compress-format", "zstd", "oci:\(layout):sample", "oci:\(dir)/skopeo-oci:z"])
            #expect(try Self.arcaTree("oci:\(dir)/skopeo-oci:z", into: dir + "/from-zstd") == expected)
            // arca can turn skopeo's archive back into a layout umoci unpacks identically.
            try Tool.check(Tool.arca, ["copy", "docker-archive:\(dir)/skopeo.tar", "oci:\(dir)/arca-oci:back"])
            #expect(try SampleImages.umociTree(layout: dir + "/arca-oci", tag: "back", bundle: dir + "/b2") == expected)
        }
    }

    @Test func addingATagKeepsTheOthers() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try SampleImages.umociImage(in: dir)
            try Tool.check(Tool.arca, ["copy", "oci:\(layout):sample", "oci:\(dir)/out:one"])
            try Tool.check(Tool.arca, ["copy", "--compression", "zstd", "oci:\(layout):sample", "oci:\(dir)/out:two"])
            try Tool.check(Tool.arca, ["copy", "oci:\(layout):sample", "oci:\(dir)/out:one"])  // re-tagging replaces, not duplicates
            let tags = try OCILayout(readingFrom: dir + "/out", tag: nil).tags()
            #expect(tags.sorted() == ["one", "two"])
            for tag in tags { try Tool.check("skopeo", ["inspect", "oci:\(dir)/out:\(tag)"]) }
        }
    }

    @Test func copiesAreDeterministic() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try SampleImages.umociImage(in: dir)
            try Tool.check(Tool.arca, ["copy", "oci:\(layout):sample", "docker-archive:\(dir)/a.tar:x:1"])
            try Tool.check(Tool.arca, ["copy", "oci:\(layout):sample", "docker-archive:\(dir)/b.tar:x:1"])
            #expect(try FileSystem.readFile(dir + "/a.tar", limit: 64 << 20) == FileSystem.readFile(dir + "/b.tar", limit: 64 << 20))
            let first = try Tool.check(Tool.arca, ["copy", "docker-archive:\(dir)/a.tar", "oci:\(dir)/o1:x"]).stdout
            let second = try Tool.check(Tool.arca, ["copy", "docker-archive:\(dir)/a.tar", "oci:\(dir)/o2:x"]).stdout
            #expect(first == second)
            #expect(first.hasPrefix("sha256:"))
        }
    }
}
