import ArcaCore
import ArcaOCI
import ArcaRegistry
import ArcaTestSupport
import Crypto
import Foundation
import Synchronization

/// A docker-registry process started by scripts/registry.sh in a test's directory.
struct TestRegistry {
    let directory: String
    let port: Int
    let tls: Bool

    var host: String { "127.0.0.1:\(port)" }
    /// The directory to pass as `certDirectory` / `--cert-dir` (the CA only).
    var clientCertDirectory: String { directory + "/client-certs" }

    static var script: String { Tool.repositoryRoot + "/scripts/registry.sh" }

    /// Starts a registry, runs `body`, and stops the registry whatever happens.
    static func with<T>(in directory: String, _ options: [String] = [], _ body: (TestRegistry) async throws -> T) async throws -> T {
        let result = try Tool.check(script, ["start", directory] + options)
        guard let port = Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ArcaError(.io, "registry.sh printed no port: \(result.stdout) \(result.stderr)")
        }
        let registry = TestRegistry(directory: directory, port: port, tls: options.contains("--tls"))
        defer { _ = try? Tool.run(script, ["stop", directory]) }
        return try await body(registry)
    }

    func reference(_ name: String) throws -> RegistryReference {
        try RegistryReference(parsing: "\(host)/\(name)")
    }
}

/// A proxy in front of a registry that records every request and can fail or corrupt some.
final class FaultProxy: Sendable {
    struct Rules: Sendable {
        /// Answer the first request this matches with `failStatus` (then pass the rest through).
        var failOnce: (@Sendable (TestRequest) -> Bool)?
        /// The status, reason and extra headers of the injected failure (503 by default).
        var failStatus = 503
        var failReason = "Service Unavailable"
        var failHeaders: [(String, String)] = []
        /// Close the connection without an answer for the first request this matches.
        var dropOnce: (@Sendable (TestRequest) -> Bool)?
        /// Flip a byte in the body of responses to requests this matches.
        var corrupt: (@Sendable (TestRequest) -> Bool)?
        /// Answer blob GETs with a 307 to this port on 127.0.0.1 (another origin), as a registry
        /// redirecting to a CDN does.
        var redirectBlobsToPort: Int?
        /// An Authorization header this proxy adds itself when forwarding (a pre-signed CDN URL).
        var upstreamAuthorization: String?
        /// Extra headers for responses to upload starts (POST …/blobs/uploads/).
        var uploadStartHeaders: [(String, String)] = []
    }

    /// State shared with the server's handler.
    final class Shared: Sendable {
        let log = Mutex<[String]>([])
        let failed = Atomic<Bool>(false)
        let sawAuthorization = Atomic<Bool>(false)
    }

    private let server: TestHTTPServer
    private let shared = Shared()
    let port: Int

    init(upstreamPort: Int, rules: Rules = Rules()) throws {
        let shared = self.shared
        server = try TestHTTPServer { request in
            shared.log.withLock { $0.append("\(request.method) \(request.path) \(request.body.count)") }
            if request.header("Authorization") != nil { shared.sawAuthorization.store(true, ordering: .relaxed) }
            if let failOnce = rules.failOnce, failOnce(request), !shared.failed.exchange(true, ordering: .relaxed) {
                return TestResponse(status: rules.failStatus, reason: rules.failReason,
                                    headers: [("Content-Type", "application/json")] + rules.failHeaders,
                                    body: Array(#"{"errors":[{"code":"UNAVAILABLE","message":"injected by the test proxy"}]}"#.utf8))
            }
            if let dropOnce = rules.dropOnce, dropOnce(request), !shared.failed.exchange(true, ordering: .relaxed) {
                return TestResponse(status: 0, reason: "")
            }
            if let port = rules.redirectBlobsToPort, request.method == "GET", request.path.contains("/blobs/sha256:") {
                return TestResponse(status: 307, reason: "Temporary Redirect",
                                    headers: [("Location", "http://127.0.0.1:\(port)\(request.target)")])
            }
            var forwarded = request
            if let authorization = rules.upstreamAuthorization { forwarded.headers.append(("Authorization", authorization)) }
            var response = TestHTTPServer.forward(forwarded, toPort: upstreamPort)
            if let corrupt = rules.corrupt, corrupt(request), !response.body.isEmpty {
                response.body[response.body.count / 2] ^= 0x20
            }
            if request.method == "POST" && request.path.hasSuffix("/blobs/uploads/") && response.status == 202 {
                response.headers += rules.uploadStartHeaders
            }
            return response
        }
        port = server.port
    }

    deinit { server.stop() }

    var host: String { "127.0.0.1:\(port)" }
    var requests: [String] { shared.log.withLock { $0 } }
    var injectedFailure: Bool { shared.failed.load(ordering: .relaxed) }
    /// True once any request reached this proxy with an Authorization header.
    var sawAuthorization: Bool { shared.sawAuthorization.load(ordering: .relaxed) }

    /// Requests whose method and path match, e.g. `("PATCH", "/blobs/uploads/")`.
    func count(_ method: String, containing fragment: String = "") -> Int {
        requests.filter { $0.hasPrefix(method + " ") && (fragment.isEmpty || $0.contains(fragment)) }.count
    }

    func clear() { shared.log.withLock { $0.removeAll() } }
}

/// The distribution token service of the tests: checks Basic credentials and hands out ES256 JWTs
/// signed with a key whose self-signed certificate the registry trusts (`rootcertbundle`).
final class TokenServer: Sendable {
    static let service = "arca-test-registry"
    static let issuer = "arca-test-issuer"

    final class Counter: Sendable { let value = Atomic<Int>(0) }

    private let server: TestHTTPServer
    private let issued = Counter()
    let port: Int
    let certificatePath: String

    /// Makes the signing key and certificate in `directory` with openssl.
    init(directory: String, username: String, password: String, lifetime: Int = 300) throws {
        try Tool.check("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                   "-days", "2", "-subj", "/CN=arca test token issuer",
                                   "-keyout", directory + "/token.key", "-out", directory + "/token.crt"])
        certificatePath = directory + "/token.crt"
        let keyPEM = try String(contentsOfFile: directory + "/token.key", encoding: .utf8)
        let key = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
        let certPEM = try String(contentsOfFile: certificatePath, encoding: .utf8)
        let certDER = certPEM.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let expected = "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
        let issued = self.issued
        server = try TestHTTPServer { request in
            guard request.method == "GET", request.path == "/token" else { return TestResponse(status: 404, reason: "Not Found") }
            guard request.header("Authorization") == expected else {
                return TestResponse(status: 401, reason: "Unauthorized", body: Array(#"{"details":"bad credentials"}"#.utf8))
            }
            let query = URLComponents(string: "http://x\(request.target)")?.queryItems ?? []
            let access: [[String: Any]] = query.filter { $0.name == "scope" }.compactMap { item in
                let parts = (item.value ?? "").split(separator: ":")
                guard parts.count == 3 else { return nil }
                return ["type": String(parts[0]), "name": String(parts[1]), "actions": parts[2].split(separator: ",").map(String.init)]
            }
            let now = Int(Date().timeIntervalSince1970)
            let header: [String: Any] = ["typ": "JWT", "alg": "ES256", "x5c": [certDER]]
            let claims: [String: Any] = ["iss": TokenServer.issuer, "sub": username, "aud": TokenServer.service,
                                         "exp": now + lifetime, "nbf": now - 10, "iat": now, "jti": UUID().uuidString, "access": access]
            func part(_ object: Any) -> String {
                base64URL((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
            }
            let input = part(header) + "." + part(claims)
            guard let signature = try? key.signature(for: Data(input.utf8)) else {
                return TestResponse(status: 500, reason: "Internal Server Error")
            }
            let token = input + "." + base64URL(signature.rawRepresentation)
            issued.value.add(1, ordering: .relaxed)
            let body: [String: Any] = ["token": token, "expires_in": lifetime, "issued_at": ISO8601DateFormatter().string(from: Date())]
            return TestResponse(status: 200, reason: "OK", headers: [("Content-Type", "application/json")],
                                body: Array((try? JSONSerialization.data(withJSONObject: body)) ?? Data()))
        }
        port = server.port
    }

    deinit { server.stop() }

    var realm: String { "http://127.0.0.1:\(port)/token" }
    var tokensIssued: Int { issued.value.load(ordering: .relaxed) }
    /// The registry.sh options that point a registry at this service.
    var registryOptions: [String] { ["--token", realm, Self.service, Self.issuer, certificatePath] }
}

func base64URL(_ data: Data) -> String {
    data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

/// Small synthetic images written with LayoutBuilder: gzip layers of pseudo-random bytes (so
/// they do not compress away), sharing layers where the test says so.
enum TestImages {
    static func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E3779B97F4A7C15 | 1
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    /// A gzip layer holding one file of `size` random bytes; returns (compressed, diffID).
    static func layer(_ name: String, size: Int, seed: UInt64) throws -> (bytes: [UInt8], diffID: ArcaOCI.Digest, mediaType: String) {
        let tar = try TarBuilder.tar([.file(name, randomBytes(size, seed: seed))])
        return (try TarBuilder.gzip(tar), ArcaOCI.Digest.sha256(of: tar), MediaType.ociLayerGzip)
    }

    /// Writes an OCI layout at `path` holding `images` (tag -> layers) and returns it.
    @discardableResult
    static func layout(at path: String, _ images: [(tag: String, layers: [(bytes: [UInt8], diffID: ArcaOCI.Digest, mediaType: String)])]) throws -> String {
        let builder = try LayoutBuilder(path: path)
        var entries: [(Descriptor, tag: String?)] = []
        for image in images {
            var config = ContainerConfig()
            config.cmd = ["/bin/true"]
            entries.append((try builder.image(layers: image.layers, config: config), image.tag))
        }
        try builder.index(entries)
        return path
    }
}
