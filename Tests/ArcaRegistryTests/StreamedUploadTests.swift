import ArcaArchive
import ArcaCore
import ArcaOCI
import ArcaRegistry
import ArcaTestSupport
import Foundation
import Testing

/// Blobs larger than one chunk go up as one streamed `PATCH` (Content-Length when the digest is
/// known, chunked transfer encoding when it is only learned at the end), then an empty `PUT`.
@Suite(.serialized) struct StreamedUploadTests {
    static var options: RegistryOptions {
        var options = PushPullTests.fast
        options.chunkSize = 64 << 10
        return options
    }

    static func bigImage(_ dir: String) throws -> (layout: String, layer: Descriptor) {
        let big = try TestImages.layer("big.bin", size: 1_100_000, seed: 21)
        let layout = try TestImages.layout(at: dir + "/layout", [("big", [big])])
        let image = try ImageResolver().resolve(try OCILayout(readingFrom: layout, tag: "big"))
        return (layout, image.layers[0])
    }

    @Test func largeBlobsGoUpInOneStreamedPatch() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let (layout, layer) = try Self.bigImage(dir)
            try await TestRegistry.with(in: dir + "/registry") { registry in
                let proxy = try FaultProxy(upstreamPort: registry.port)
                // Known digest (passed through): one PATCH of the whole blob.
                let (manifest, destination) = try PushPullTests.push(layout, tag: "big", to: try RegistryReference(parsing: "\(proxy.host)/stream/known:1"),
                                                                     options: Self.options)
                let patches = proxy.requests.filter { $0.hasPrefix("PATCH ") }
                #expect(patches.count == 1)
                #expect(patches.first?.hasSuffix(" \(layer.size)") == true, "\(patches)")
                #expect(destination.counts.patches == 1)
                #expect(proxy.count("PUT", containing: "/blobs/uploads/") == 2)  // the layer's final PUT and the config
                let inspect = try Tool.check("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/stream/known:1"])
                #expect(Digest.sha256(of: Array(inspect.stdout.utf8)) == manifest.digest)
                try Tool.check("skopeo", ["copy", "--src-tls-verify=false", "docker://\(registry.host)/stream/known:1", "dir:\(dir)/known-dir"])

                // Unknown digest (recompressed to zstd while uploading): chunked transfer encoding.
                proxy.clear()
                let source = try OCILayout(readingFrom: layout, tag: "big")
                let image = try ImageResolver().resolve(source)
                let zstdDestination = try RegistryDestination(try RegistryReference(parsing: "\(proxy.host)/stream/zstd:1"), options: Self.options)
                let recompressed = try ImageCopier(compression: .zstd).copy(image, from: source, to: zstdDestination)
                #expect(zstdDestination.counts.patches == 1)
                #expect(proxy.count("PATCH") == 1)
                let pulled = try ImageResolver().resolve(try RegistrySource(try registry.reference("stream/zstd:1"), options: Self.options))
                #expect(pulled.manifestDescriptor.digest == recompressed.digest)
                #expect(pulled.layers[0].mediaType == MediaType.ociLayer(.zstd))
                try Tool.check("skopeo", ["copy", "--src-tls-verify=false", "docker://\(registry.host)/stream/zstd:1", "dir:\(dir)/zstd-dir"])
            }
        }
    }

    @Test func aDroppedStreamIsAClearErrorAndNothingIsCommitted() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let (layout, _) = try Self.bigImage(dir)
            try await TestRegistry.with(in: dir + "/registry") { registry in
                var rules = FaultProxy.Rules()
                rules.dropOnce = { $0.method == "PATCH" }
                let proxy = try FaultProxy(upstreamPort: registry.port, rules: rules)
                let reference = try RegistryReference(parsing: "\(proxy.host)/stream/dropped:1")
                let error = try #require(throws: ArcaError.self) { try PushPullTests.push(layout, tag: "big", to: reference, options: Self.options) }
                #expect(error.code == .io)
                #expect(error.message.contains("not retried") && error.message.contains(proxy.host), "\(error)")
                #expect(proxy.injectedFailure)
                #expect(proxy.count("PUT", containing: "/manifests/") == 0)
                let missing = try #require(throws: ArcaError.self) {
                    try RegistrySource(try registry.reference("stream/dropped:1"), options: Self.options).rootDescriptor()
                }
                #expect(missing.code == .notFound)

                // The push run again goes through.
                let (manifest, _) = try PushPullTests.push(layout, tag: "big", to: reference, options: Self.options)
                #expect(try RegistrySource(try registry.reference("stream/dropped:1"), options: Self.options).rootDescriptor().digest == manifest.digest)
            }
        }
    }
}
