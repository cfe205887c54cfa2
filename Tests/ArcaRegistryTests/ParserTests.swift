import ArcaCore
import ArcaOCI
@testable import ArcaRegistry
import ArcaTestSupport
import Foundation
import Testing

/// Parsers that read what a registry or a user's files say: hostile input gives errors, never crashes.
@Suite struct ParserTests {
    @Test func parsesBearerAndBasicChallenges() throws {
        let bearer = try AuthChallenge(parsing: #"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#)
        #expect(bearer.scheme == "bearer")
        #expect(bearer.parameters == ["realm": "https://auth.example/token", "service": "registry.example", "scope": "repository:a/b:pull,push"])
        let basic = try AuthChallenge(parsing: #"Basic realm="Registry \"Realm\"", charset=UTF-8"#)
        #expect(basic.scheme == "basic")
        #expect(basic.parameters["realm"] == #"Registry "Realm""#)
        #expect(basic.parameters["charset"] == "UTF-8")
        #expect(try AuthChallenge(parsing: "Basic").parameters.isEmpty)
    }

    @Test func refusesMalformedChallenges() {
        for text in ["", "   ", #"Bearer realm="unterminated"#, "Bearer realm", "Bearer =x", "Bearer a=1 b=2", #"Bearer a="1",a="2""#,
                     "Bearer " + String(repeating: "x=y,", count: 3000)] {
            #expect(throws: ArcaError.self, "\(text.prefix(40))") { try AuthChallenge(parsing: text) }
        }
    }

    @Test func challengeParserSurvivesTruncationAndBitFlips() {
        let header = Array(#"Bearer realm="https://auth.example/token?x=1",service="reg\"istry",scope="repository:a:pull""#.utf8)
        for cut in 0...header.count {
            _ = try? AuthChallenge(parsing: String(decoding: header[..<cut], as: UTF8.self))
        }
        var state: UInt64 = 42
        for _ in 0..<2000 {
            var bytes = header
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let index = Int(state >> 33) % bytes.count
            bytes[index] ^= UInt8(truncatingIfNeeded: 1 << ((state >> 20) % 8))
            _ = try? AuthChallenge(parsing: String(decoding: bytes, as: UTF8.self))
        }
    }

    @Test func credentialsHideTheirSecret() throws {
        let credentials = try RegistryCredentials(parsing: "user:pa:ss")
        #expect(credentials.username == "user" && credentials.password == "pa:ss")
        #expect(!"\(credentials)".contains("pa:ss"))
        for bad in ["", "nopassword", ":only-password"] {
            let error = try #require(throws: ArcaError.self) { try RegistryCredentials(parsing: bad) }
            #expect(error.code == .invalidArgument)
        }
    }

    @Test func authFilesAreSearchedInOrderAndMostSpecificKeyWins() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            func encode(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
            try FileSystem.makeDirectories(dir + "/run/containers")
            try FileSystem.makeDirectories(dir + "/home/.docker")
            try FileSystem.writeAtomically(Array(#"{"auths":{"reg.example:5000/team":{"auth":"\#(encode("team:t"))"},"reg.example:5000":{"auth":"\#(encode("host:h"))"}}}"#.utf8),
                                           to: dir + "/run/containers/auth.json")
            try FileSystem.writeAtomically(Array(#"{"auths":{"https://index.docker.io/v1/":{"auth":"\#(encode("hub:x"))"},"other.example":{"username":"u","password":"p"}}}"#.utf8),
                                           to: dir + "/home/.docker/config.json")
            let store = CredentialStore(environment: ["XDG_RUNTIME_DIR": dir + "/run", "HOME": dir + "/home"])
            #expect(try store.credentials(registry: "reg.example:5000", repository: "team/app")?.username == "team")
            #expect(try store.credentials(registry: "reg.example:5000", repository: "other/app")?.username == "host")
            #expect(try store.credentials(registry: "docker.io", repository: "library/busybox")?.username == "hub")
            #expect(try store.credentials(registry: "other.example", repository: "x")?.password == "p")
            #expect(try store.credentials(registry: "unknown.example", repository: "x") == nil)
            #expect(store.searchedFiles == [dir + "/run/containers/auth.json", dir + "/home/.docker/config.json"])
        }
    }

    @Test func hostileAuthFilesAreErrors() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let file = dir + "/auth.json"
            let store = CredentialStore(environment: ["REGISTRY_AUTH_FILE": file])
            let valid = Array(#"{"auths":{"r.example":{"auth":"dTpw"}}}"#.utf8)
            for cut in 0..<valid.count {
                try FileSystem.writeAtomically(Array(valid[..<cut]), to: file)
                #expect(throws: ArcaError.self) { try store.credentials(registry: "r.example", repository: "a") }
            }
            for bad in [#"{"auths":{"r.example":{"auth":"!!!"}}}"#, #"{"auths":{"r.example":{"auth":"bm9jb2xvbg=="}}}"#, #"{"auths":[]}"#,
                        #"{"credHelpers":{"r.example":"../evil"}}"#] {
                try FileSystem.writeAtomically(Array(bad.utf8), to: file)
                #expect(throws: ArcaError.self, "\(bad)") { try store.credentials(registry: "r.example", repository: "a") }
            }
            try FileSystem.writeAtomically(valid, to: file)
            #expect(try store.credentials(registry: "r.example", repository: "a") == RegistryCredentials(username: "u", password: "p"))
        }
    }

    @Test func manifestMediaTypeComesFromHeaderDocumentOrShape() throws {
        let manifest = Array(#"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:\#(String(repeating: "0", count: 64))","size":1},"layers":[]}"#.utf8)
        #expect(try RegistrySource.mediaType(contentType: MediaType.dockerManifest, bytes: manifest, what: "m") == MediaType.dockerManifest)
        #expect(try RegistrySource.mediaType(contentType: "application/json", bytes: manifest, what: "m") == MediaType.ociManifest)
        #expect(try RegistrySource.mediaType(contentType: nil, bytes: Array(#"{"schemaVersion":2,"manifests":[]}"#.utf8), what: "m") == MediaType.ociIndex)
        let schema1 = Array(#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#.utf8)
        let error = try #require(throws: ArcaError.self) {
            try RegistrySource.mediaType(contentType: "application/vnd.docker.distribution.manifest.v1+prettyjws", bytes: schema1, what: "m")
        }
        #expect(error.code == .unsupported)
        for cut in 0..<manifest.count {
            _ = try? RegistrySource.mediaType(contentType: nil, bytes: Array(manifest[..<cut]), what: "m")
        }
    }

    @Test func urlsAndLoopbackHosts() throws {
        #expect(percentEncode("sha256:ab/c d") == "sha256%3Aab%2Fc%20d")
        #expect(RegistryClient.isLoopback("127.0.0.1:5000") && RegistryClient.isLoopback("localhost") && RegistryClient.isLoopback("[::1]:5000"))
        #expect(!RegistryClient.isLoopback("registry.example:5000") && !RegistryClient.isLoopback("10.0.0.1"))
        #expect(RegistryClient.origin(of: "https://r.example:5000/v2/x?y=1") == "https://r.example:5000")
        #expect(RegistryClient.displayPath("http://h/v2/a/blobs/uploads/u?_state=secret") == "/v2/a/blobs/uploads/u")
        #expect(RegistryClient.appending("http://h/u?a=1", "digest", "sha256:x") == "http://h/u?a=1&digest=sha256%3Ax")
        let client = try RegistryClient(try RegistryReference(parsing: "127.0.0.1:1/a"), options: RegistryOptions(), push: false)
        #expect(client.resolve("/v2/a/blobs/uploads/1", against: "http://127.0.0.1:1/v2/a/x") == "http://127.0.0.1:1/v2/a/blobs/uploads/1")
        #expect(client.resolve("https://cdn.example/b", against: "http://127.0.0.1:1/v2/") == "https://cdn.example/b")
        #expect(client.host == "127.0.0.1:1")
        #expect(try RegistryClient(try RegistryReference(parsing: "busybox"), options: RegistryOptions(), push: false).host == "registry-1.docker.io")
    }

    @Test func optionsAreValidated() throws {
        let reference = try RegistryReference(parsing: "127.0.0.1:1/a")
        for options in [RegistryOptions(retries: -1), RegistryOptions(mountFrom: "Bad:Repo"), RegistryOptions(chunkSize: 10)] {
            #expect(throws: ArcaError.self) { try RegistryDestination(reference, options: options) }
        }
        #expect(throws: ArcaError.self) { try RegistrySource(reference, options: RegistryOptions(certDirectory: "/nonexistent/certs")) }
    }

    @Test func unreachableRegistryIsAClearErrorAfterRetries() throws {
        // Nothing listens on port 1 of the loopback interface.
        let source = try RegistrySource(try RegistryReference(parsing: "127.0.0.1:1/a:1"),
                                        options: RegistryOptions(retries: 1, retryDelay: .milliseconds(10), connectTimeout: .seconds(2)))
        let started = ContinuousClock.now
        let error = try #require(throws: ArcaError.self) { try source.rootDescriptor() }
        #expect(error.code == .io)
        #expect(error.message.contains("127.0.0.1:1"), "\(error)")
        // A refused connection fails at once: only arca's own 10 ms backoff is waited, not the
        // 2 s connect timeout per try.
        #expect(ContinuousClock.now - started < .milliseconds(1900))
    }
}
