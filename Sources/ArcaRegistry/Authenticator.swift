import ArcaCore
import FoundationEssentials
import NIOHTTP1
import Synchronization

/// Answers a registry's `WWW-Authenticate` challenges: Basic with the credentials, or the token
/// flow of the distribution spec (a GET to the challenge's realm with its service and our scopes,
/// Basic-authenticated when credentials exist). Tokens are cached until shortly before they expire;
/// once a scheme is known, every request carries its `Authorization` header from the start.
final class Authenticator: Sendable {
    enum Mode: Sendable {
        case anonymous
        case basic
        case bearer(realm: String, service: String?)
    }

    struct Token: Sendable {
        var value: String
        var expires: ContinuousClock.Instant
    }

    struct State: Sendable {
        var mode = Mode.anonymous
        var token: Token?
        var credentials: RegistryCredentials??
    }

    let registry: String
    let repository: String
    /// The token scopes this client asks for, e.g. `repository:app:pull,push`.
    let scopes: [String]
    private let options: RegistryOptions
    private let state = Mutex(State())

    init(registry: String, repository: String, scopes: [String], options: RegistryOptions) {
        self.registry = registry
        self.repository = repository
        self.scopes = scopes
        self.options = options
    }

    /// The credentials to use: explicit ones, else stored ones (looked up once).
    func credentials() throws -> RegistryCredentials? {
        if let explicit = options.credentials { return explicit }
        if let known = state.withLock({ $0.credentials }) { return known }
        let found = try options.credentialStore.credentials(registry: registry, repository: repository)
        state.withLock { $0.credentials = .some(found) }
        return found
    }

    /// The `Authorization` header for the next request, if the registry asked for one before.
    func authorization() throws -> String? {
        let (mode, token) = state.withLock { ($0.mode, $0.token) }
        switch mode {
        case .anonymous:
            return nil
        case .basic:
            return try credentials()?.basicAuthorization
        case .bearer:
            if let token, ContinuousClock.now < token.expires { return "Bearer \(token.value)" }
            return nil
        }
    }

    /// True when the mode is known but its token has run out (so it is fetched before the request).
    var needsFreshToken: Bool {
        state.withLock { state in
            if case .bearer = state.mode { return state.token.map { ContinuousClock.now >= $0.expires } ?? true }
            return false
        }
    }

    /// Learns from a 401 how to authenticate, fetching a token when needed. `fetch` sends a request
    /// with the client's retry policy. Throws a clear error when credentials are missing.
    func respond(to challenges: [String], fetch: (HTTPRequest) throws -> HTTPResponse) throws {
        let parsed = challenges.compactMap { try? AuthChallenge(parsing: $0) }
        if let bearer = parsed.first(where: { $0.scheme == "bearer" }) {
            guard let realm = bearer.parameters["realm"], realm.hasPrefix("https://") || realm.hasPrefix("http://") else {
                throw ArcaError(.invalidFormat, "registry \(registry) sent a Bearer challenge without an http(s) realm")
            }
            state.withLock { $0.mode = .bearer(realm: realm, service: bearer.parameters["service"]) }
            try refreshToken(fetch: fetch)
        } else if parsed.contains(where: { $0.scheme == "basic" }) {
            guard try credentials() != nil else { throw missingCredentials() }
            state.withLock { $0.mode = .basic }
        } else {
            throw ArcaError(.unsupported, "registry \(registry) asks for authentication with a scheme Arca does not speak (\(parsed.map(\.scheme).joined(separator: ", ").prefix(80))); Basic and Bearer are supported")
        }
    }

    /// Fetches a new token for `scopes` from the realm learned from the last challenge.
    func refreshToken(fetch: (HTTPRequest) throws -> HTTPResponse) throws {
        guard case .bearer(let realm, let service) = state.withLock({ $0.mode }) else { return }
        var query: [String] = []
        if let service { query.append("service=\(percentEncode(service))") }
        query += scopes.map { "scope=\(percentEncode($0))" }
        var request = HTTPRequest(method: .GET, url: realm + (realm.contains("?") ? "&" : "?") + query.joined(separator: "&"))
        let credentials = try credentials()
        if let credentials { request.headers.add(name: "Authorization", value: credentials.basicAuthorization) }
        let response = try fetch(request)
        guard response.status == .ok else {
            _ = response.readErrorBody()
            if response.status == .unauthorized || response.status == .forbidden {
                if let credentials {
                    throw ArcaError(.invalidArgument, "the token service of registry \(registry) refused the credentials of user \"\(credentials.username)\" for \(scopes.joined(separator: " ")) (\(response.status.code))")
                }
                throw missingCredentials()
            }
            throw ArcaError(.io, "the token service of registry \(registry) answered \(response.status.code) \(response.status.reasonPhrase)")
        }
        struct Answer: Decodable {
            var token: String?
            var access_token: String?
            var expires_in: Int?
        }
        let body = try response.readBody(limit: 1 << 20, what: "token response from \(registry)")
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(body)),
              let value = answer.token ?? answer.access_token, !value.isEmpty,
              value.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw ArcaError(.invalidFormat, "the token service of registry \(registry) answered without a usable token")
        }
        // The spec's default lifetime is 60 s; renew a little early so a request never carries a stale token.
        let lifetime = max(60, min(answer.expires_in ?? 60, 24 * 3600))
        let expires = ContinuousClock.now + .seconds(lifetime) - .seconds(max(5, lifetime / 10))
        state.withLock { $0.token = Token(value: value, expires: expires) }
    }

    func missingCredentials() -> ArcaError {
        ArcaError(.invalidArgument, "registry \(registry) requires authentication for \(repository): give --creds USER:PASSWORD, or log in with `podman login`, `skopeo login` or `docker login` (auth files searched: \(options.credentialStore.searchedFiles.joined(separator: ", ")))")
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
func percentEncode(_ text: String) -> String {
    var out = ""
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            out.unicodeScalars.append(Unicode.Scalar(byte))
        default:
            let hex = Array("0123456789ABCDEF".utf8)
            out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
        }
    }
    return out
}
