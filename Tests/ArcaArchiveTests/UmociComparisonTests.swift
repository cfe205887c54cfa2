import ArcaCore
import ArcaTestSupport
import Testing
@testable import ArcaArchive

#if canImport(Glibc)
import Glibc
#endif

/// Arca's extractor and rootfs model against `umoci unpack` on the same layers: the trees
/// must have the same manifest. (The OCI layout is written by hand here so this suite depends
/// on ArcaArchive alone.)
@Suite(.enabled(if: have("umoci") && geteuid() == 0, "needs umoci and root"))
struct UmociComparisonTests {
    static let layers: [[(TarEntry, [UInt8])]] = [
        [
            dir("."),
            dir("etc"), file("etc/hostname", "arca\n"), file("etc/gone", "x"), dir("etc/conf.d"), file("etc/conf.d/a", "a"),
            dir("usr"), dir("usr/bin"), (TarEntry(path: "usr/bin/tool", type: .regular, mode: 0o4755, size: 5000), pseudoRandomBytes(5000)),
            entry(.hardlink("usr/bin/alias", to: "usr/bin/tool")),
            entry(.symlink("bin", to: "usr/bin")),
            dir("var"), dir("var/cache"), file("var/cache/old", "o"), dir("var/cache/deep"), file("var/cache/deep/f", "f"),
            (TarEntry(path: "home", type: .directory, mode: 0o750, uid: 1000, gid: 1000), []),
            (TarEntry(path: "home/user.txt", type: .regular, mode: 0o600, uid: 1000, gid: 100, size: 2), [1, 2]),
            entry(TarEntry(path: "run/pipe", type: .fifo, mode: 0o620)),
            dir("tmp", mode: 0o1777),
        ],
        [
            dir("etc"), file("etc/.wh.gone", ""), file("etc/.wh.conf.d", ""),
            dir("var"), dir("var/cache"), file("var/cache/.wh..wh..opq", ""), file("var/cache/new", "n"),
            file("usr/bin/tool", "replaced"),
            file("bin", "no longer a link"),
        ],
    ]

    func writeBlob(_ bytes: [UInt8], layout: String) throws -> String {
        let digest = sha256Hex(bytes)
        try FileSystem.writeAtomically(bytes, to: layout + "/blobs/sha256/" + digest)
        return "sha256:" + digest
    }

    func descriptor(_ mediaType: String, _ digest: String, _ size: Int) -> String {
        "{\"mediaType\":\"\(mediaType)\",\"digest\":\"\(digest)\",\"size\":\(size)}"
    }

    @Test func extractionMatchesUmociUnpack() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let layout = base + "/layout"
            try FileSystem.makeDirectories(layout + "/blobs/sha256")
            var tars: [[UInt8]] = []
            var layerDescriptors: [String] = []
            var diffIDs: [String] = []
            for layer in Self.layers {
                let tar = try makeTar(layer)
                tars.append(tar)
                diffIDs.append("\"sha256:\(sha256Hex(tar))\"")
                let sink = MemorySink()
                let gzip = LayerCompression.gzip.compressing(sink)
                try gzip.write(tar)
                try gzip.finish()
                let digest = try writeBlob(sink.bytes, layout: layout)
                layerDescriptors.append(descriptor("application/vnd.oci.image.layer.v1.tar+gzip", digest, sink.bytes.count))
            }
            let config = Array("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\(diffIDs.joined(separator: ","))]}}".utf8)
            let configDigest = try writeBlob(config, layout: layout)
            let manifest = Array(("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":"
                + descriptor("application/vnd.oci.image.config.v1+json", configDigest, config.count)
                + ",\"layers\":[\(layerDescriptors.joined(separator: ","))]}").utf8)
            let manifestDigest = try writeBlob(manifest, layout: layout)
            let index = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"\(manifestDigest)\",\"size\":\(manifest.count),\"annotations\":{\"org.opencontainers.image.ref.name\":\"test\"}}]}"
            try FileSystem.writeAtomically(Array(index.utf8), to: layout + "/index.json")
            try FileSystem.writeAtomically(Array("{\"imageLayoutVersion\":\"1.0.0\"}".utf8), to: layout + "/oci-layout")

            let unpacked = try run(["umoci", "unpack", "--image", layout + ":test", base + "/bundle"])
            #expect(unpacked.status == 0)
            let umoci = try TreeManifest.lines(directory: base + "/bundle/rootfs")
            #expect(umoci.count == 16)
            #expect(umoci.contains { $0.hasPrefix("var/cache/new file 0644 0 0 1 ") })
            #expect(!umoci.contains { $0.hasPrefix("var/cache/old ") || $0.hasPrefix("etc/conf.d") })

            try FileSystem.makeDirectories(base + "/arca")
            let extractor = try RootfsExtractor(directory: base + "/arca")
            for tar in tars { try extractor.apply(layer: TarReader(MemorySource(tar))) }
            try extractor.finish()
            let arca = try TreeManifest.lines(directory: base + "/arca")
            #expect(arca == umoci)

            let (rootfs, _, _) = try buildRootfs(Self.layers)
            #expect(try TreeManifest.lines(rootfs: rootfs) { MemorySource(tars[$0]) } == umoci)
        }
    }
}
