import ArcaArchive
import ArcaCore
import ArcaOCI
import ArcaRegistry
import ArcaTestSupport
import Foundation
import Testing

/// Push and pull against a real docker-registry over plain HTTP, with a counting proxy in front:
/// uploads, HEAD-before-upload, chunked uploads, cross-repository mounts, skopeo interop.
@Suite(.serialized) struct PushPullTests {
    static let fast = RegistryOptions(retries: 1, retryDelay: .milliseconds(20), connectTimeout: .seconds(5), readTimeout: .seconds(30))

    /// v1: two layers; v2: the same two layers and a third.
    static func twoImages(_ dir: String) throws -> String {
        let base1 = try TestImages.layer("base/one.bin", size: 300_000, seed: 1)
        let base2 = try TestImages.layer("base/two.bin", size: 200_000, seed: 2)
        let app = try TestImages.layer("app/main.bin", size: 100_000, seed: 3)
        return try TestImages.layout(at: dir + "/layout", [("v1", [base1, base2]), ("v2", [base1, base2, app])])
    }

    /// Copies `from` to `to` with ImageCopier; returns the destination and the manifest descriptor.
    @discardableResult
    static func copy(_ from: any ImageSource, to: any ImageDestination) throws -> Descriptor {
        let image = try ImageResolver().resolve(from)
        return try ImageCopier(parallelism: 2).copy(image, from: from, to: to)
    }

    static func push(_ layout: String, tag: String, to reference: RegistryReference,
                     options: RegistryOptions = fast) throws -> (Descriptor, RegistryDestination) {
        let destination = try RegistryDestination(reference, options: options)
        let manifest = try copy(try OCILayout(readingFrom: layout, tag: tag), to: destination)
        return (manifest, destination)
    }

    @Test func pushesOnceAndPullsBackOverPlainHTTP() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try Self.twoImages(dir)
            try await TestRegistry.with(in: dir + "/registry") { registry in
                let proxy = try FaultProxy(upstreamPort: registry.port)
                let v1 = try RegistryReference(parsing: "\(proxy.host)/team/app:v1")
                let (manifest, first) = try Self.push(layout, tag: "v1", to: v1)
                #expect(first.counts.uploaded == 3)  // two layers and the config
                #expect(proxy.count("PUT", containing: "/blobs/uploads/") == 3)
                #expect(proxy.count("PUT", containing: "/manifests/v1") == 1)

                // skopeo reads what arca pushed, with the same manifest digest.
                let inspect = try Tool.check("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/team/app:v1"])
                #expect(Digest.sha256(of: Array(inspect.stdout.utf8)) == manifest.digest)
                try Tool.check("skopeo", ["copy", "--src-tls-verify=false", "docker://\(registry.host)/team/app:v1", "oci:\(dir)/skopeo-out:v1"])

                // Pushing again uploads nothing: every blob is found by HEAD.
                proxy.clear()
                let (again, second) = try Self.push(layout, tag: "v1", to: v1)
                #expect(again.digest == manifest.digest)
                #expect(second.counts.uploaded == 0)
                #expect(proxy.count("PUT", containing: "/blobs/uploads/") == 0)
                #expect(proxy.count("PATCH") == 0)
                #expect(proxy.count("HEAD") == 3, "\(proxy.requests)")

                // The derived image uploads only its new layer and its config.
                proxy.clear()
                let (v2Manifest, third) = try Self.push(layout, tag: "v2", to: try RegistryReference(parsing: "\(proxy.host)/team/app:v2"))
                #expect(third.counts.uploaded == 2)
                #expect(third.counts.skipped == 2)
                #expect(proxy.count("PUT", containing: "/blobs/uploads/") == 2)

                // arca pulls it back, by tag and by digest, byte for byte.
                for name in ["team/app:v2", "team/app@\(v2Manifest.digest)"] {
                    let source = try RegistrySource(try registry.reference(name), options: Self.fast)
                    let out = dir + "/pulled-\(name.count)"
                    let pulled = try Self.copy(source, to: try OCILayout(writingTo: out, tag: "v2"))
                    #expect(pulled.digest == v2Manifest.digest)
                    let original = try ImageResolver().resolve(try OCILayout(readingFrom: layout, tag: "v2"))
                    let copied = try ImageResolver().resolve(try OCILayout(readingFrom: out, tag: "v2"))
                    #expect(copied.manifestBytes == original.manifestBytes)
                    #expect(copied.configBytes == original.configBytes)
                }
            }
        }
    }

    @Test func followsBlobRedirectsToAnotherOriginWithoutCredentials() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try Self.twoImages(dir)
            try await TestRegistry.with(in: dir + "/registry", ["--htpasswd", "carol:pass-123"]) { registry in
                var options = Self.fast
                options.credentials = RegistryCredentials(username: "carol", password: "pass-123")
                let (manifest, _) = try Self.push(layout, tag: "v1", to: try registry.reference("redirect/app:1"), options: options)
                // The "CDN" signs requests itself (as a pre-signed URL would) and records whether
                // arca sent it the registry's credentials: it must not.
                var cdnRules = FaultProxy.Rules()
                cdnRules.upstreamAuthorization = "Basic " + Data("carol:pass-123".utf8).base64EncodedString()
                let cdn = try FaultProxy(upstreamPort: registry.port, rules: cdnRules)
                var rules = FaultProxy.Rules()
                rules.redirectBlobsToPort = cdn.port
                let front = try FaultProxy(upstreamPort: registry.port, rules: rules)
                let source = try RegistrySource(try RegistryReference(parsing: "\(front.host)/redirect/app:1"), options: options)
                let pulled = try Self.copy(source, to: try OCILayout(writingTo: dir + "/out", tag: "x"))
                #expect(pulled.digest == manifest.digest)
                #expect(front.sawAuthorization)
                #expect(front.count("GET", containing: "/blobs/") >= 3)
                #expect(cdn.count("GET", containing: "/blobs/") == 3)
                #expect(!cdn.sawAuthorization)
            }
        }
    }

    @Test func readsWhatSkopeoPushedInDockerAndOCIFormats() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try Self.twoImages(dir)
            try await TestRegistry.with(in: dir + "/registry") { registry in
                for format in ["v2s2", "oci"] {
                    try Tool.check("skopeo", ["copy", "--dest-tls-verify=false", "--format", format,
                                              "oci:\(layout):v2", "docker://\(registry.host)/skopeo/app:\(format)"])
                    let source = try RegistrySource(try registry.reference("skopeo/app:\(format)"), options: Self.fast)
                    let root = try source.rootDescriptor()
                    #expect(root.mediaType == (format == "oci" ? MediaType.ociManifest : MediaType.dockerManifest))
                    let out = dir + "/from-skopeo-\(format)"
                    try Self.copy(source, to: try OCILayout(writingTo: out, tag: "x"))
                    let original = try ImageResolver().resolve(try OCILayout(readingFrom: layout, tag: "v2"))
                    let copied = try ImageResolver().resolve(try OCILayout(readingFrom: out, tag: "x"))
                    #expect(copied.diffIDs == original.diffIDs)
                    #expect(copied.config.config?.cmd == ["/bin/true"])
                }
                // An index pushed by skopeo (--all keeps the OCI index) resolves to linux/amd64.
                try Tool.check("skopeo", ["copy", "--dest-tls-verify=false", "--all", "oci:\(layout):v1", "docker://\(registry.host)/skopeo/app:all"])
                let image = try ImageResolver().resolve(try RegistrySource(try registry.reference("skopeo/app:all"), options: Self.fast))
                #expect(image.layers.count == 2)
                // A missing tag is a clear not-found error.
                let missing = try RegistrySource(try registry.reference("skopeo/app:nope"), options: Self.fast)
                let error = try #require(throws: ArcaError.self) { try missing.rootDescriptor() }
                #expect(error.code == .notFound)
                #expect(error.message.contains("404"))
            }
        }
    }

    @Test func chunkedUploadHonoursTheRegistryChunkMinimum() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let big = try TestImages.layer("big.bin", size: 1_100_000, seed: 9)
            let layout = try TestImages.layout(at: dir + "/layout", [("big", [big])])
            try await TestRegistry.with(in: dir + "/registry") { registry in
                let minimum = 256 << 10
                var rules = FaultProxy.Rules()
                rules.uploadStartHeaders = [("OCI-Chunk-Min-Length", "\(minimum)")]
                let proxy = try FaultProxy(upstreamPort: registry.port, rules: rules)
                var options = Self.fast
                options.chunkSize = 64 << 10
                options.streamUploads = false
                let (manifest, destination) = try Self.push(layout, tag: "big", to: try RegistryReference(parsing: "\(proxy.host)/chunked:1"), options: options)
                let patches = proxy.requests.filter { $0.hasPrefix("PATCH ") }
                #expect(patches.count >= 3)
                #expect(destination.counts.patches == patches.count)
                for patch in patches {
                    let size = Int(patch.split(separator: " ").last ?? "") ?? 0
                    #expect(size >= minimum, "\(patch)")
                }
                let inspect = try Tool.check("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/chunked:1"])
                #expect(Digest.sha256(of: Array(inspect.stdout.utf8)) == manifest.digest)
                // skopeo copies the blobs out and verifies their digests.
                try Tool.check("skopeo", ["copy", "--src-tls-verify=false", "docker://\(registry.host)/chunked:1", "dir:\(dir)/skopeo-dir"])
            }
        }
    }

    @Test func mountsBlobsFromAnotherRepositoryInsteadOfUploading() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try Self.twoImages(dir)
            try await TestRegistry.with(in: dir + "/registry") { registry in
                let proxy = try FaultProxy(upstreamPort: registry.port)
                _ = try Self.push(layout, tag: "v1", to: try RegistryReference(parsing: "\(proxy.host)/library/base:1"))
                proxy.clear()
                var options = Self.fast
                options.mountFrom = "library/base"
                let (_, destination) = try Self.push(layout, tag: "v2", to: try RegistryReference(parsing: "\(proxy.host)/team/derived:1"), options: options)
                #expect(destination.counts.mounted == 2)
                #expect(destination.counts.uploaded == 2)  // the new layer and the new config
                #expect(proxy.count("POST", containing: "/team/derived/blobs/uploads/") >= 2)
                #expect(proxy.count("PUT", containing: "/blobs/uploads/") == 2)
                try Tool.check("skopeo", ["copy", "--src-tls-verify=false", "docker://\(registry.host)/team/derived:1", "oci:\(dir)/check:x"])
            }
        }
    }
}
