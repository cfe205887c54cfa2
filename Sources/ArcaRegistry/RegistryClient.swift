import ArcaCore
import ArcaOCI
import FoundationEssentials
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The distribution-spec HTTP API of one repository: endpoint and scheme discovery, the
/// `Authorization` header, retries with backoff, redirects (without credentials to other hosts),
/// and the registry's own error messages.
final class RegistryClient: Sendable {
    let reference: RegistryReference
    let options: RegistryOptions
    /// host[:port] on the network (Docker Hub's API lives on registry-1.docker.io).
    let host: String
    let transport: HTTPTransport
    let auth: Authenticator
    private let base = Mutex<String?>(nil)

    /// Registry errors are short JSON documents.
    static let maxErrorBody = 16 << 10

    init(_ reference: RegistryReference, options: RegistryOptions, push: Bool) throws {
        try options.validate()
        self.reference = reference
        self.options = options
        self.host = reference.registry == "docker.io" ? "registry-1.docker.io" : reference.registry
        var scopes = ["repository:\(reference.repository):\(push ? "pull,push" : "pull")"]
        if push, let mountFrom = options.mountFrom, mountFrom != reference.repository {
            scopes.append("repository:\(mountFrom):pull")
        }
        self.auth = Authenticator(registry: reference.registry, repository: reference.repository, scopes: scopes, options: options)
        self.transport = HTTPTransport(tls: try Self.tlsConfiguration(host: host, options: options),
                                       connectTimeout: options.connectTimeout, readTimeout: options.readTimeout)
    }

    /// True for localhost and 127.0.0.0/8 (and ::1), where plain HTTP is allowed as docker allows it.
    static func isLoopback(_ host: String) -> Bool {
        var name = Substring(host)
        if name.hasPrefix("[") {
            name = name.dropFirst().prefix { $0 != "]" }
            return name == "::1"
        }
        if let colon = name.lastIndex(of: ":") { name = name[..<colon] }
        return name == "localhost" || name.hasPrefix("127.")
    }

    static func tlsConfiguration(host: String, options: RegistryOptions) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if !options.tlsVerify {
            tls.certificateVerification = .none
            options.warn("TLS certificate verification is off for registry \(host): anyone on the network path can read and change this transfer")
        }
        var directories: [String] = []
        if let certDirectory = options.certDirectory {
            guard FileSystem.isDirectory(certDirectory) else {
                throw ArcaError(.notFound, "certificate directory \(certDirectory) does not exist")
            }
            directories.append(certDirectory)
        } else {
            directories = ["/etc/containers/certs.d/\(host)", "/etc/docker/certs.d/\(host)"].filter(FileSystem.isDirectory)
        }
        for directory in directories {
            let names = try FileSystem.listDirectory(directory).sorted()
            for name in names where name.hasSuffix(".crt") {
                tls.additionalTrustRoots.append(.file(directory + "/" + name))
            }
            for name in names where name.hasSuffix(".cert") {
                let key = directory + "/" + name.dropLast(".cert".count) + ".key"
                guard FileSystem.exists(key) else {
                    throw ArcaError(.notFound, "client certificate \(directory)/\(name) has no matching key \(key)")
                }
                do {
                    tls.certificateChain = try NIOSSLCertificate.fromPEMFile(directory + "/" + name).map { .certificate($0) }
                    tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
                } catch {
                    throw ArcaError(.invalidFormat, "client certificate \(directory)/\(name) or its key cannot be read as PEM")
                }
            }
        }
        return tls
    }

    // MARK: - Endpoint

    /// `https://host` or, for loopback and insecure registries that do not speak TLS, `http://host`.
    /// Found once with a `GET /v2/` (the API version check).
    func baseURL() throws -> String {
        try base.withLock { base in
            if let base { return base }
            let found = options.insecure || Self.isLoopback(host) ? try probeBoth() : try probe("https")
            base = found
            return found
        }
    }

    /// One scheme, with retries.
    private func probe(_ scheme: String) throws -> String {
        let url = "\(scheme)://\(host)"
        let response: HTTPResponse
        do {
            response = try retrying { try transport.send(HTTPRequest(method: .GET, url: url + "/v2/")) }
        } catch let error as ArcaError {
            throw ArcaError(.io, "cannot reach registry \(host) over HTTPS: \(error.message) (plain HTTP is used only for localhost, 127.0.0.1 and registries marked insecure)")
        }
        try Self.checkVersionAnswer(response, url: url)
        return url
    }

    /// HTTPS and HTTP at once: a port speaks one or the other, and a TLS handshake sent to a
    /// plain-HTTP port can hang until the connect timeout. A registry answer over HTTP wins at
    /// once; otherwise HTTPS is waited for. Both failing is retried like any request.
    private func probeBoth() throws -> String {
        var attempt = 0
        while true {
            attempt += 1
            let secure = try transport.start(HTTPRequest(method: .GET, url: "https://\(host)/v2/"))
            let plain = try transport.start(HTTPRequest(method: .GET, url: "http://\(host)/v2/"))
            var failures: [String] = []
            var retryable = true
            do {
                try Self.checkVersionAnswer(try plain.wait(), url: "http://\(host)")
                return "http://\(host)"
            } catch let error as TransportError {
                failures.append("http: \(error.description)")
            } catch let error as ArcaError {
                failures.append("http: \(error.message)")
                retryable = false
            }
            do {
                try Self.checkVersionAnswer(try secure.wait(), url: "https://\(host)")
                return "https://\(host)"
            } catch let error as TransportError {
                failures.append("https: \(error.description)")
            } catch let error as ArcaError {
                failures.append("https: \(error.message)")
                retryable = false
            }
            if !retryable || attempt > options.retries {
                throw ArcaError(.io, "cannot reach registry \(host) after \(attempt) \(attempt == 1 ? "try" : "tries"): \(failures.joined(separator: "; "))")
            }
            pause(attempt: attempt, retryAfter: nil)
        }
    }

    /// `GET /v2/` must answer 200, or 401 when authentication is needed.
    private static func checkVersionAnswer(_ response: HTTPResponse, url: String) throws {
        _ = response.readErrorBody()
        guard [200, 401].contains(response.status.code) else {
            // Also what a TLS-only registry answers to plain HTTP: the HTTPS result says more.
            throw ArcaError(.io, "\(url)/v2/ answered \(response.status.code) \(response.status.reasonPhrase), so this is no registry (distribution API v2)")
        }
    }

    // MARK: - Requests

    /// Sends a request with retries on 429/5xx and connection failures (exponential backoff);
    /// `probe` gives up at once (a scheme check must not wait).
    func retrying(probe: Bool = false, _ send: () throws -> HTTPResponse) throws -> HTTPResponse {
        var attempt = 0
        while true {
            attempt += 1
            let last = probe || attempt > options.retries
            do {
                let response = try send()
                let code = response.status.code
                guard code == 429 || [500, 502, 503, 504].contains(code), !last else { return response }
                let retryAfter = response.header("Retry-After").flatMap { Int($0) }
                _ = response.readErrorBody()
                pause(attempt: attempt, retryAfter: retryAfter)
            } catch let error as TransportError {
                if last {
                    throw ArcaError(.io, "registry \(host) could not be reached after \(attempt) tr\(attempt == 1 ? "y" : "ies"): \(error.description)")
                }
                pause(attempt: attempt, retryAfter: nil)
            }
        }
    }

    private func pause(attempt: Int, retryAfter: Int?) {
        var delay = options.retryDelay * (1 << min(attempt - 1, 10))
        if let retryAfter, retryAfter >= 0, retryAfter < 60 { delay = max(delay, .seconds(retryAfter)) }
        let (seconds, attoseconds) = delay.components
        var time = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var left = timespec()
        while nanosleep(&time, &left) != 0 && errno == EINTR { time = left }
    }

    /// The request with this client's `Authorization` header (refreshing an expired token first);
    /// a URL outside the registry's origin (an upload location or redirect elsewhere) gets none.
    func prepare(_ method: HTTPMethod, _ url: String, headers: HTTPHeaders = HTTPHeaders(), body: ByteBuffer? = nil) throws -> HTTPRequest {
        var request = HTTPRequest(method: method, url: url, headers: headers, body: body)
        guard Self.origin(of: url) == (try baseURL()) else { return request }
        if auth.needsFreshToken { try auth.refreshToken(fetch: { request in try retrying { try transport.send(request) } }) }
        if let authorization = try auth.authorization() {
            request.headers.replaceOrAdd(name: "Authorization", value: authorization)
        }
        return request
    }

    /// Sends `method` to `target` (a path under the registry, or an absolute URL it gave us) with
    /// authentication, retries and, for GET and HEAD, redirects. Any status is returned; a 401
    /// after authenticating is an error.
    func perform(_ method: HTTPMethod, _ target: String, headers: HTTPHeaders = HTTPHeaders(), body: ByteBuffer? = nil) throws -> HTTPResponse {
        let base = try baseURL()
        var url = resolve(target, against: base)
        var authenticated = false
        var redirects = 0
        while true {
            let onRegistry = Self.origin(of: url) == base
            let request = try prepare(method, url, headers: headers, body: body)
            let response = try retrying { try transport.send(request) }
            switch response.status.code {
            case 401 where onRegistry:
                let challenges = response.headers["WWW-Authenticate"]
                _ = response.readErrorBody()
                if authenticated || challenges.isEmpty {
                    if let credentials = try auth.credentials() {
                        throw ArcaError(.invalidArgument, "registry \(reference.registry) rejected the credentials of user \"\(credentials.username)\" for \(method) \(Self.displayPath(url)) (401 Unauthorized)")
                    }
                    throw auth.missingCredentials()
                }
                try auth.respond(to: challenges, fetch: { request in try retrying { try transport.send(request) } })
                authenticated = true
            case let code where [301, 302, 303, 307, 308].contains(code) && (method == .GET || method == .HEAD):
                guard let location = response.header("Location"), redirects < 5 else {
                    throw ArcaError(.io, "registry \(reference.registry) redirected \(method) \(Self.displayPath(url)) too often or without a Location")
                }
                _ = response.readErrorBody()
                redirects += 1
                url = resolve(location, against: url)
            default:
                return response
            }
        }
    }

    /// Turns an unexpected response into an error that names the registry, the request, the
    /// status, the number of tries and the registry's own message.
    func failure(_ response: HTTPResponse, _ what: String) -> ArcaError {
        let body = response.readErrorBody(limit: Self.maxErrorBody)
        var detail = ""
        struct Errors: Decodable {
            struct Item: Decodable { var code: String?; var message: String? }
            var errors: [Item]?
        }
        if let parsed = try? JSONDecoder().decode(Errors.self, from: Data(body)), let first = parsed.errors?.first {
            detail = ": " + [first.code, first.message].compactMap { $0 }.joined(separator: " ").prefix(300)
        }
        let code: ArcaError.Code = switch response.status.code {
        case 404: .notFound
        case 401, 403: .invalidArgument
        case 400..<500: .invalidFormat
        default: .io
        }
        let count = options.retries + 1
        let tries = [429, 500, 502, 503, 504].contains(response.status.code) ? " after \(count) \(count == 1 ? "try" : "tries")" : ""
        return ArcaError(code, "registry \(reference.registry) answered \(response.status.code) \(response.status.reasonPhrase) to \(what) (\(response.request.method) \(Self.displayPath(response.request.url)))\(tries)\(detail)")
    }

    // MARK: - URLs

    /// `/v2/REPO/SUFFIX`
    func path(_ suffix: String) -> String { "/v2/\(reference.repository)/\(suffix)" }

    /// The scheme and authority of an absolute URL.
    static func origin(of url: String) -> String {
        let prefix = url.hasPrefix("https://") ? "https://" : url.hasPrefix("http://") ? "http://" : ""
        guard !prefix.isEmpty else { return "" }
        let rest = url.dropFirst(prefix.count)
        let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        return String(url[..<end])
    }

    /// The path of a URL without its query (upload URLs carry long opaque state), for messages.
    static func displayPath(_ url: String) -> String {
        let origin = origin(of: url)
        let rest = url.dropFirst(origin.count)
        return String(rest.prefix { $0 != "?" }.prefix(200))
    }

    /// Resolves a `Location` (absolute, or absolute-path as registries send them) against `base`.
    func resolve(_ location: String, against base: String) -> String {
        if location.hasPrefix("https://") || location.hasPrefix("http://") { return location }
        if location.hasPrefix("/") { return Self.origin(of: base) + location }
        // A relative path: replace the last segment of the base path.
        let origin = Self.origin(of: base)
        let path = base.dropFirst(origin.count).prefix { $0 != "?" }
        let directory = path.lastIndex(of: "/").map { path[...$0] } ?? "/"
        return origin + directory + location
    }

    /// `url` with `name=value` appended to its query.
    static func appending(_ url: String, _ name: String, _ value: String) -> String {
        url + (url.contains("?") ? "&" : "?") + name + "=" + percentEncode(value)
    }
}
