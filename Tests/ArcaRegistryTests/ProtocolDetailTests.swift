import ArcaArchive
import ArcaCore
import ArcaOCI
import ArcaRegistry
import ArcaTestSupport
import Foundation
import Testing

/// Points of the distribution protocol the other suites do not reach: 429 with `Retry-After`,
/// pushing by digest, and choosing a platform from an index in a registry.
@Suite(.serialized) struct ProtocolDetailTests {
    static let fast = PushPullTests.fast

    @Test func tooManyRequestsIsRetriedAfterTheDelayTheRegistryAsks() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try AuthTLSFaultTests.smallImage(dir)
            try await TestRegistry.with(in: dir + "/registry") { registry in
                var rules = FaultProxy.Rules()
                rules.failOnce = { $0.method == "HEAD" && $0.path.contains("/blobs/") }
                rules.failStatus = 429
                rules.failReason = "Too Many Requests"
                rules.failHeaders = [("Retry-After", "1")]
                let proxy = try FaultProxy(upstreamPort: registry.port, rules: rules)
                let started = ContinuousClock.now
                _ = try PushPullTests.push(layout, tag: "v1", to: try RegistryReference(parsing: "\(proxy.host)/busy/app:1"))
                let elapsed = ContinuousClock.now - started
                #expect(proxy.injectedFailure)
                // The backoff of these options is 20 ms; the registry's Retry-After (1 s) wins.
                #expect(elapsed >= .milliseconds(950), "\(elapsed)")
                try Tool.check("skopeo", ["inspect", "--tls-verify=false", "docker://\(registry.host)/busy/app:1"])

                // Without retries the 429 is the error, naming the registry and the status.
                var noRetries = Self.fast
                noRetries.retries = 0
                let again = try FaultProxy(upstreamPort: registry.port, rules: rules)
                let error = try #require(throws: ArcaError.self) {
                    try PushPullTests.push(layout, tag: "v1", to: try RegistryReference(parsing: "\(again.host)/busy/other:1"), options: noRetries)
                }
                #expect(error.message.contains("429") && error.message.contains(again.host), "\(error)")
            }
        }
    }

    @Test func pushesByDigestAndRefusesADigestThatIsNotTheManifests() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try PushPullTests.twoImages(dir)
            let v1 = try ImageResolver().resolve(try OCILayout(readingFrom: layout, tag: "v1")).manifestDescriptor
            try await TestRegistry.with(in: dir + "/registry") { registry in
                let proxy = try FaultProxy(upstreamPort: registry.port)
                let (pushed, _) = try PushPullTests.push(layout, tag: "v1", to: try RegistryReference(parsing: "\(proxy.host)/pinned/app@\(v1.digest)"))
                #expect(pushed.digest == v1.digest)
                #expect(proxy.count("PUT", containing: "/manifests/\(v1.digest)") == 1)
                let raw = try Tool.check("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/pinned/app@\(v1.digest)"])
                #expect(Digest.sha256(of: Array(raw.stdout.utf8)) == v1.digest)

                // v2 pushed to v1's digest: refused before any manifest is written.
                proxy.clear()
                let error = try #require(throws: ArcaError.self) {
                    try PushPullTests.push(layout, tag: "v2", to: try RegistryReference(parsing: "\(proxy.host)/pinned/other@\(v1.digest)"))
                }
                #expect(error.code == .invalidArgument)
                #expect(error.message.contains("push by tag instead"), "\(error)")
                #expect(proxy.count("PUT", containing: "/manifests/") == 0)
            }
        }
    }

    @Test func choosesThePlatformFromAnIndexInTheRegistry() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let builder = try LayoutBuilder(path: dir + "/layout")
            var amd = try builder.image(layers: [try TestImages.layer("amd.bin", size: 20_000, seed: 11)])
            amd.platform = .linuxAMD64
            let armPlatform = Platform(os: "linux", architecture: "arm64", variant: "v8")
            var arm = try builder.image(layers: [try TestImages.layer("arm.bin", size: 20_000, seed: 12)], platform: armPlatform)
            arm.platform = armPlatform
            let index = try builder.json(Index(manifests: [arm, amd]), mediaType: MediaType.ociIndex)
            try builder.index([(index, "multi")])
            try await TestRegistry.with(in: dir + "/registry") { registry in
                try Tool.check("skopeo", ["copy", "--all", "--dest-tls-verify=false", "oci:\(dir)/layout:multi", "docker://\(registry.host)/multi/app:1"])
                let reference = try registry.reference("multi/app:1")
                let source = try RegistrySource(reference, options: Self.fast)
                #expect(MediaType.isIndex(try source.rootDescriptor().mediaType))
                #expect(try ImageResolver().resolve(source).manifestDescriptor.digest == amd.digest)
                let armImage = try ImageResolver(platform: Platform(parsing: "linux/arm64")).resolve(RegistrySource(reference, options: Self.fast))
                #expect(armImage.manifestDescriptor.digest == arm.digest)
                let error = try #require(throws: ArcaError.self) {
                    try ImageResolver(platform: Platform(parsing: "linux/s390x")).resolve(RegistrySource(reference, options: Self.fast))
                }
                #expect(error.code == .notFound)

                // The chosen platform's image is pulled whole.
                let pulled = try ImageCopier().copy(armImage, from: RegistrySource(reference, options: Self.fast),
                                                                       to: OCILayout(writingTo: dir + "/arm", tag: "x"))
                #expect(pulled.digest == arm.digest)
            }
        }
    }
}
