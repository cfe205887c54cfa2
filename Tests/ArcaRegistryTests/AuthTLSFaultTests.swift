import ArcaArchive
import ArcaCore
import ArcaOCI
import ArcaRegistry
import ArcaTestSupport
import Foundation
import Synchronization
import Testing

/// TLS with a private CA, Basic and Bearer authentication, credential files and helpers, retries
/// and a lying registry — all against a real docker-registry.
@Suite(.serialized) struct AuthTLSFaultTests {
    static let fast = PushPullTests.fast

    static func smallImage(_ dir: String) throws -> String {
        try TestImages.layout(at: dir + "/layout", [("v1", [try TestImages.layer("a.bin", size: 50_000, seed: 7)])])
    }

    @Test func tlsWithAPrivateCA() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try Self.smallImage(dir)
            try await TestRegistry.with(in: dir + "/registry", ["--tls"]) { registry in
                let reference = try registry.reference("secure/app:1")
                // Unknown CA: refused, with TLS named in the error.
                let refused = try #require(throws: ArcaError.self) {
                    try PushPullTests.push(layout, tag: "v1", to: reference)
                }
                #expect(refused.message.contains("TLS") || refused.message.contains("certificate"), "\(refused)")

                var options = Self.fast
                options.certDirectory = registry.clientCertDirectory
                let (manifest, _) = try PushPullTests.push(layout, tag: "v1", to: reference, options: options)
                let inspect = try Tool.check("skopeo", ["inspect", "--raw", "--cert-dir", registry.clientCertDirectory, "docker://\(registry.host)/secure/app:1"])
                #expect(Digest.sha256(of: Array(inspect.stdout.utf8)) == manifest.digest)

                // Verification off: works, and says so.
                let warnings = Mutex<[String]>([])
                var unverified = Self.fast
                unverified.tlsVerify = false
                unverified.warn = { message in warnings.withLock { $0.append(message) } }
                let source = try RegistrySource(reference, options: unverified)
                #expect(try source.rootDescriptor().digest == manifest.digest)
                #expect(warnings.withLock { $0.contains { $0.contains("verification is off") } })
            }
        }
    }

    @Test func basicAuthWithCredentialsFlagsFilesAndHelpers() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try Self.smallImage(dir)
            let password = "s3cret-Pass:word"
            try await TestRegistry.with(in: dir + "/registry", ["--htpasswd", "alice:\(password)"]) { registry in
                let reference = try registry.reference("private/app:1")
                let empty = CredentialStore(environment: ["HOME": dir + "/nohome"])

                var anonymous = Self.fast
                anonymous.credentialStore = empty
                let missing = try #require(throws: ArcaError.self) { try PushPullTests.push(layout, tag: "v1", to: reference, options: anonymous) }
                #expect(missing.message.contains("requires authentication"), "\(missing)")

                var wrong = anonymous
                wrong.credentials = RegistryCredentials(username: "alice", password: "not-\(password)")
                let rejected = try #require(throws: ArcaError.self) { try PushPullTests.push(layout, tag: "v1", to: reference, options: wrong) }
                #expect(rejected.message.contains("rejected the credentials of user \"alice\""), "\(rejected)")
                #expect(!"\(rejected)".contains(password))

                var flag = anonymous
                flag.credentials = try RegistryCredentials(parsing: "alice:\(password)")
                let (manifest, _) = try PushPullTests.push(layout, tag: "v1", to: reference, options: flag)

                // containers auth.json via REGISTRY_AUTH_FILE.
                let authFile = dir + "/auth.json"
                let encoded = Data("alice:\(password)".utf8).base64EncodedString()
                try Data(#"{"auths":{"\#(registry.host)":{"auth":"\#(encoded)"}}}"#.utf8).write(to: URL(fileURLWithPath: authFile))
                var fromFile = Self.fast
                fromFile.credentialStore = CredentialStore(environment: ["REGISTRY_AUTH_FILE": authFile])
                #expect(try RegistrySource(reference, options: fromFile).rootDescriptor().digest == manifest.digest)

                // docker config.json with a credential helper found on PATH.
                let bin = dir + "/bin"
                try FileSystem.makeDirectories(bin)
                try SampleImages.write("#!/bin/sh\nread server\n[ \"$server\" = \"\(registry.host)\" ] || exit 1\necho '{\"Username\":\"alice\",\"Secret\":\"\(password)\"}'\n",
                                       to: bin + "/docker-credential-arcatest", mode: 0o755)
                try FileSystem.makeDirectories(dir + "/docker")
                try Data(#"{"credHelpers":{"\#(registry.host)":"arcatest"}}"#.utf8).write(to: URL(fileURLWithPath: dir + "/docker/config.json"))
                var helper = Self.fast
                helper.credentialStore = CredentialStore(environment: ["DOCKER_CONFIG": dir + "/docker", "PATH": bin + ":/usr/bin:/bin"])
                #expect(try RegistrySource(reference, options: helper).rootDescriptor().digest == manifest.digest)

                // A helper that is not installed is named.
                try Data(#"{"credsStore":"nope"}"#.utf8).write(to: URL(fileURLWithPath: dir + "/docker/config.json"))
                let noHelper = try #require(throws: ArcaError.self) { try RegistrySource(reference, options: helper).rootDescriptor() }
                #expect(noHelper.message.contains("docker-credential-nope"), "\(noHelper)")

                // skopeo reads it with the same credentials.
                try Tool.check("skopeo", ["inspect", "--tls-verify=false", "--creds", "alice:\(password)", "docker://\(registry.host)/private/app:1"])
            }
        }
    }

    @Test func bearerTokenFlowWithCachedTokens() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try Self.smallImage(dir)
            let tokens = try TokenServer(directory: dir, username: "bob", password: "token-pass")
            try await TestRegistry.with(in: dir + "/registry", tokens.registryOptions) { registry in
                let reference = try registry.reference("tokens/app:1")
                var options = Self.fast
                options.credentialStore = CredentialStore(environment: [:])
                let missing = try #require(throws: ArcaError.self) { try PushPullTests.push(layout, tag: "v1", to: reference, options: options) }
                #expect(missing.message.contains("requires authentication"), "\(missing)")

                options.credentials = RegistryCredentials(username: "bob", password: "token-pass")
                let before = tokens.tokensIssued
                let (manifest, _) = try PushPullTests.push(layout, tag: "v1", to: reference, options: options)
                #expect(tokens.tokensIssued - before == 1)  // one token, reused for every request of the push

                let source = try RegistrySource(reference, options: options)
                let out = dir + "/pulled"
                try PushPullTests.copy(source, to: try OCILayout(writingTo: out, tag: "x"))
                #expect(try ImageResolver().resolve(try OCILayout(readingFrom: out, tag: "x")).manifestDescriptor.digest == manifest.digest)
                #expect(tokens.tokensIssued - before == 2)

                try Tool.check("skopeo", ["inspect", "--tls-verify=false", "--creds", "bob:token-pass", "docker://\(registry.host)/tokens/app:1"])
            }
        }
    }

    @Test func retriesAfterA503AndNamesTheRegistryWhenTriesRunOut() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try Self.smallImage(dir)
            try await TestRegistry.with(in: dir + "/registry") { registry in
                var rules = FaultProxy.Rules()
                rules.failOnce = { $0.method == "PUT" && $0.path.contains("/manifests/") }
                let flaky = try FaultProxy(upstreamPort: registry.port, rules: rules)
                _ = try PushPullTests.push(layout, tag: "v1", to: try RegistryReference(parsing: "\(flaky.host)/retry/app:1"))
                #expect(flaky.injectedFailure)
                #expect(flaky.count("PUT", containing: "/manifests/") == 2)

                // A connection closed without an answer (mid-upload) is retried too.
                var dropRules = FaultProxy.Rules()
                dropRules.dropOnce = { $0.method == "PUT" && $0.path.contains("/blobs/uploads/") }
                let dropping = try FaultProxy(upstreamPort: registry.port, rules: dropRules)
                _ = try PushPullTests.push(layout, tag: "v1", to: try RegistryReference(parsing: "\(dropping.host)/retry/dropped:1"))
                #expect(dropping.injectedFailure)
                try Tool.check("skopeo", ["inspect", "--tls-verify=false", "docker://\(registry.host)/retry/dropped:1"])

                rules.failOnce = { $0.method == "GET" && $0.path.contains("/manifests/") }
                let again = try FaultProxy(upstreamPort: registry.port, rules: rules)
                var noRetries = Self.fast
                noRetries.retries = 0
                let error = try #require(throws: ArcaError.self) {
                    try RegistrySource(try RegistryReference(parsing: "\(again.host)/retry/app:1"), options: noRetries).rootDescriptor()
                }
                #expect(error.message.contains("503") && error.message.contains(again.host) && error.message.contains("after 1 try"), "\(error)")
                #expect(error.message.contains("injected by the test proxy"))
            }
        }
    }

    @Test func aCorruptedBlobIsAnErrorAndNothingIsKept() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try Self.smallImage(dir)
            try await TestRegistry.with(in: dir + "/registry") { registry in
                _ = try PushPullTests.push(layout, tag: "v1", to: try registry.reference("lying/app:1"))
                var rules = FaultProxy.Rules()
                rules.corrupt = { $0.method == "GET" && $0.path.contains("/blobs/") }
                let liar = try FaultProxy(upstreamPort: registry.port, rules: rules)
                let source = try RegistrySource(try RegistryReference(parsing: "\(liar.host)/lying/app:1"), options: Self.fast)
                let out = dir + "/out"
                let error = try #require(throws: ArcaError.self) {
                    try PushPullTests.copy(source, to: try OCILayout(writingTo: out, tag: "x"))
                }
                #expect(error.code == .integrity, "\(error)")
                // No blob and no image is left in the destination.
                let blobs = (try? FileSystem.listDirectory(out + "/blobs/sha256")) ?? []
                #expect(blobs.isEmpty, "\(blobs)")
                let index = (try? String(contentsOfFile: out + "/index.json", encoding: .utf8)) ?? ""
                #expect(!index.contains("sha256:"))

                // A lying manifest (digest reference) is refused too.
                rules.corrupt = { $0.method == "GET" && $0.path.contains("/manifests/") }
                let manifestLiar = try FaultProxy(upstreamPort: registry.port, rules: rules)
                let good = try RegistrySource(try registry.reference("lying/app:1"), options: Self.fast).rootDescriptor()
                let byDigest = try RegistrySource(try RegistryReference(parsing: "\(manifestLiar.host)/lying/app@\(good.digest)"), options: Self.fast)
                let manifestError = try #require(throws: ArcaError.self) { try byDigest.rootDescriptor() }
                #expect(manifestError.code == .integrity)
            }
        }
    }
}
