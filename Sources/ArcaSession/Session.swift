import FoundationEssentials

/// A session: the keeper's policy for one application (`team/app`). It names the services that may
/// receive keys, what each must prove (measurements, or a signer and a minimum version), what they
/// get (command, environment, secrets, volume keys, shield master keys), and which evidence kinds
/// are acceptable. Written as YAML (SCONE-like); hashed in its canonical JSON form.
public struct Session: Codable, Sendable, Equatable {
    /// `team/app`: segments of `[a-z0-9][a-z0-9._-]*` separated by `/`.
    public var name: String
    /// A free-form version label (`1`, `2024-06-01`, `1.4.2`).
    public var version: String
    /// SHA-256 (hex) of the canonical form of the version this one replaces; required on update.
    public var predecessor: String?
    public var services: [Service]
    public var secrets: [Secret]
    public var volumes: [Volume]
    public var security: Security
    /// Shield master keys (64 hex digits) by image name, written by `arca seal`.
    public var keys: [String: String]

    public init(name: String, version: String, predecessor: String? = nil, services: [Service],
                secrets: [Secret] = [], volumes: [Volume] = [], security: Security = Security(),
                keys: [String: String] = [:]) {
        self.name = name
        self.version = version
        self.predecessor = predecessor
        self.services = services
        self.secrets = secrets
        self.volumes = volumes
        self.security = security
        self.keys = keys
    }

    enum CodingKeys: String, CodingKey {
        case name, version, predecessor, services, secrets, volumes, security, keys
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        version = try c.decode(String.self, forKey: .version)
        predecessor = try c.decodeIfPresent(String.self, forKey: .predecessor)
        services = try c.decode([Service].self, forKey: .services)
        secrets = try c.decodeIfPresent([Secret].self, forKey: .secrets) ?? []
        volumes = try c.decodeIfPresent([Volume].self, forKey: .volumes) ?? []
        security = try c.decodeIfPresent(Security.self, forKey: .security) ?? Security()
        keys = try c.decodeIfPresent([String: String].self, forKey: .keys) ?? [:]
    }

    /// The service named `name`, if the session has one.
    public func service(named name: String) -> Service? {
        services.first { $0.name == name }
    }
}

/// One service of a session: what it must prove and what it receives.
public struct Service: Codable, Sendable, Equatable {
    public var name: String
    /// Accepted Arca measurements (64 hex digits each).
    public var measurements: [String]
    /// Alternatively (or additionally) a signer with a minimum version.
    public var signer: SignerPolicy?
    public var command: [String]
    public var environment: [String: String]
    public var workingDir: String?
    public var user: String?
    /// Host environment variables the runtime may pass through, by name.
    public var allowHostEnv: [String]
    /// Whether the runtime may append the host's arguments to `command`.
    public var allowHostArgs: Bool
    /// Names of session secrets this service receives.
    public var secrets: [String]
    /// Names of session volumes this service mounts.
    public var volumes: [String]
    /// Names of the `keys` (images) this service receives; empty means all of them.
    public var images: [String]

    public init(name: String, measurements: [String] = [], signer: SignerPolicy? = nil, command: [String] = [],
                environment: [String: String] = [:], workingDir: String? = nil, user: String? = nil,
                allowHostEnv: [String] = [], allowHostArgs: Bool = false, secrets: [String] = [],
                volumes: [String] = [], images: [String] = []) {
        self.name = name
        self.measurements = measurements
        self.signer = signer
        self.command = command
        self.environment = environment
        self.workingDir = workingDir
        self.user = user
        self.allowHostEnv = allowHostEnv
        self.allowHostArgs = allowHostArgs
        self.secrets = secrets
        self.volumes = volumes
        self.images = images
    }

    enum CodingKeys: String, CodingKey {
        case name, measurements, signer, command, environment, workingDir, user, allowHostEnv, allowHostArgs
        case secrets, volumes, images
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        measurements = try c.decodeIfPresent([String].self, forKey: .measurements) ?? []
        signer = try c.decodeIfPresent(SignerPolicy.self, forKey: .signer)
        command = try c.decodeIfPresent([String].self, forKey: .command) ?? []
        environment = try c.decodeIfPresent([String: String].self, forKey: .environment) ?? [:]
        workingDir = try c.decodeIfPresent(String.self, forKey: .workingDir)
        user = try c.decodeIfPresent(String.self, forKey: .user)
        allowHostEnv = try c.decodeIfPresent([String].self, forKey: .allowHostEnv) ?? []
        allowHostArgs = try c.decodeIfPresent(Bool.self, forKey: .allowHostArgs) ?? false
        secrets = try c.decodeIfPresent([String].self, forKey: .secrets) ?? []
        volumes = try c.decodeIfPresent([String].self, forKey: .volumes) ?? []
        images = try c.decodeIfPresent([String].self, forKey: .images) ?? []
    }
}

/// A signer identity (hex, e.g. MRSIGNER or a sim signer) and the lowest version it may run.
public struct SignerPolicy: Codable, Sendable, Equatable {
    public var signer: String
    public var minimumVersion: UInt64
    public init(signer: String, minimumVersion: UInt64) {
        self.signer = signer
        self.minimumVersion = minimumVersion
    }
}

/// A secret: given in the session, or generated by the keeper (`ascii`, `binary`) on first use.
public struct Secret: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// Printable ASCII, generated with `size` characters unless `value` is given.
        case ascii
        /// Random bytes, generated with `size` bytes unless `value` (base64) is given.
        case binary
        /// Given verbatim in `value`.
        case given
    }

    public var name: String
    public var kind: Kind
    /// The value (base64 for `binary`); filled in by the keeper for generated secrets.
    public var value: String?
    /// The size of a generated secret (characters for `ascii`, bytes for `binary`).
    public var size: Int?
    /// Expose as this environment variable…
    public var env: String?
    /// …and/or as a file at this absolute path.
    public var file: String?

    public init(name: String, kind: Kind, value: String? = nil, size: Int? = nil, env: String? = nil, file: String? = nil) {
        self.name = name
        self.kind = kind
        self.value = value
        self.size = size
        self.env = env
        self.file = file
    }
}

/// A persistent encrypted volume; `key` (64 hex digits) is generated by the keeper when absent.
public struct Volume: Codable, Sendable, Equatable {
    public var name: String
    public var path: String
    public var key: String?
    public init(name: String, path: String, key: String? = nil) {
        self.name = name
        self.path = path
        self.key = key
    }
}

/// Which evidence the session accepts and which platform weaknesses it tolerates.
public struct Security: Codable, Sendable, Equatable {
    /// Evidence kinds accepted (`sim`, `sgx`, `tdx`, `snp`). `sim` must be listed explicitly.
    public var allowedEvidence: [String]
    /// TCB statuses, advisory IDs or `debug` that do not cause a denial.
    public var tolerate: [String]
    /// Hardware pins per kind; a hardware kind without its section gets no release.
    public var sgx: SGXPolicy?
    public var tdx: TDXPolicy?
    public var snp: SNPPolicy?

    public init(allowedEvidence: [String] = [], tolerate: [String] = [], sgx: SGXPolicy? = nil, tdx: TDXPolicy? = nil,
                snp: SNPPolicy? = nil) {
        self.allowedEvidence = allowedEvidence
        self.tolerate = tolerate
        self.sgx = sgx
        self.tdx = tdx
        self.snp = snp
    }

    enum CodingKeys: String, CodingKey { case allowedEvidence, tolerate, sgx, tdx, snp }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        allowedEvidence = try c.decodeIfPresent([String].self, forKey: .allowedEvidence) ?? []
        tolerate = try c.decodeIfPresent([String].self, forKey: .tolerate) ?? []
        sgx = try c.decodeIfPresent(SGXPolicy.self, forKey: .sgx)
        tdx = try c.decodeIfPresent(TDXPolicy.self, forKey: .tdx)
        snp = try c.decodeIfPresent(SNPPolicy.self, forKey: .snp)
    }
}
