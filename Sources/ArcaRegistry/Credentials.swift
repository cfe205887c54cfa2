import ArcaCore
import FoundationEssentials

/// A user name and password (or token) for a registry. Its description never shows the secret.
public struct RegistryCredentials: Sendable, Equatable, CustomStringConvertible {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// Parses `USER:PASS` as given to `--creds` (the password may contain colons).
    public init(parsing text: String) throws {
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else {
            throw ArcaError(.invalidArgument, "credentials must be USER:PASSWORD (the value given has no user name or no colon)")
        }
        self.init(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
    }

    public var description: String { "\(username):<hidden>" }

    /// The `Authorization` header value for HTTP Basic authentication.
    var basicAuthorization: String {
        "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
    }
}

/// Finds stored credentials the way podman, skopeo and docker do: `$REGISTRY_AUTH_FILE` (or
/// `$XDG_RUNTIME_DIR/containers/auth.json`), then `$DOCKER_CONFIG/config.json` (or
/// `~/.docker/config.json`). In each file, a `credHelpers` entry for the registry wins, then an
/// `auths` entry (most specific `host/repository` key first), then the file's `credsStore`.
public struct CredentialStore: Sendable {
    /// The environment variables consulted: REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, DOCKER_CONFIG, HOME, PATH.
    public var environment: [String: String]
    /// An auth file named explicitly (`--authfile`); searched before all others.
    public var authFile: String?

    public static let variables = ["REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "DOCKER_CONFIG", "HOME", "PATH"]

    /// A store over the process environment.
    public init(authFile: String? = nil) {
        var environment: [String: String] = [:]
        for name in Self.variables {
            if let value = environmentValue(name) { environment[name] = value }
        }
        self.init(environment: environment, authFile: authFile)
    }

    public init(environment: [String: String], authFile: String? = nil) {
        self.environment = environment
        self.authFile = authFile
    }

    /// The auth files searched, in order (whether or not they exist).
    public var searchedFiles: [String] {
        var files: [String] = []
        if let authFile { files.append(authFile) }
        if let file = environment["REGISTRY_AUTH_FILE"], !file.isEmpty {
            files.append(file)
        } else if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty {
            files.append(runtime + "/containers/auth.json")
        }
        if let docker = environment["DOCKER_CONFIG"], !docker.isEmpty {
            files.append(docker + "/config.json")
        } else if let home = environment["HOME"], !home.isEmpty {
            files.append(home + "/.docker/config.json")
        }
        return files
    }

    /// The credentials stored for `registry` (and `repository`), or nil for anonymous access.
    public func credentials(registry: String, repository: String) throws -> RegistryCredentials? {
        for file in searchedFiles where FileSystem.exists(file) {
            let bytes = try FileSystem.readFile(file, limit: 4 << 20)
            let config: AuthFile
            do {
                config = try JSONDecoder().decode(AuthFile.self, from: Data(bytes))
            } catch {
                throw ArcaError(.invalidFormat, "auth file \(file) is not valid JSON with \"auths\", \"credHelpers\" or \"credsStore\"")
            }
            if let found = try config.lookup(registry: registry, repository: repository, file: file, path: environment["PATH"]) {
                return found
            }
        }
        return nil
    }
}

/// The common shape of containers-auth.json(5) and docker's config.json.
struct AuthFile: Decodable {
    struct Entry: Decodable {
        var auth: String?
        var username: String?
        var password: String?
        var identitytoken: String?
    }

    var auths: [String: Entry]?
    var credHelpers: [String: String]?
    var credsStore: String?

    /// The keys Docker Hub's credentials may be stored under.
    static let dockerHubKeys = ["docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"]

    func lookup(registry: String, repository: String, file: String, path: String?) throws -> RegistryCredentials? {
        let hosts = registry == "docker.io" ? Self.dockerHubKeys : [registry]
        if let helpers = credHelpers {
            for host in hosts {
                if let helper = helpers[host] {
                    return try CredentialHelper(name: helper, path: path).get(serverURL: Self.serverURL(registry))
                }
            }
        }
        if let auths {
            // Most specific first: host/a/b, host/a, host; then keys written as URLs.
            var candidates: [String] = []
            let parts = repository.split(separator: "/").map(String.init)
            for count in stride(from: parts.count, through: 1, by: -1) {
                candidates.append(registry + "/" + parts[..<count].joined(separator: "/"))
            }
            candidates += hosts
            for candidate in candidates {
                if let entry = auths[candidate] ?? auths.first(where: { Self.normalizedKey($0.key) == candidate })?.value {
                    if let credentials = try Self.decode(entry, key: candidate, file: file) { return credentials }
                }
            }
        }
        if let credsStore, !credsStore.isEmpty {
            return try CredentialHelper(name: credsStore, path: path).get(serverURL: Self.serverURL(registry))
        }
        return nil
    }

    /// The server name a credential helper is asked about (Docker Hub's legacy URL for docker.io).
    static func serverURL(_ registry: String) -> String {
        registry == "docker.io" ? "https://index.docker.io/v1/" : registry
    }

    /// `https://host/v1/` → `host`, as docker normalizes old keys.
    static func normalizedKey(_ key: String) -> String {
        var text = Substring(key)
        for scheme in ["https://", "http://"] where text.hasPrefix(scheme) { text = text.dropFirst(scheme.count) }
        if key.hasPrefix("http"), let slash = text.firstIndex(of: "/") { text = text[..<slash] }
        return String(text)
    }

    static func decode(_ entry: Entry, key: String, file: String) throws -> RegistryCredentials? {
        if let auth = entry.auth, !auth.isEmpty {
            guard let raw = Data(base64Encoded: auth), let text = String(bytes: raw, encoding: .utf8),
                  let colon = text.firstIndex(of: ":") else {
                throw ArcaError(.invalidFormat, "auth file \(file): the \"auth\" value for \(key) is not base64 of USER:PASSWORD")
            }
            return RegistryCredentials(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
        }
        if let username = entry.username, let password = entry.password {
            return RegistryCredentials(username: username, password: password)
        }
        return nil
    }
}
