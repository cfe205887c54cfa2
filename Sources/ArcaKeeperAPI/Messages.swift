import FoundationEssentials

/// The wire types of the keeper's HTTP API (JSON bodies). Byte strings travel as lowercase hex
/// (keys, nonces, digests) or base64 (evidence, ciphertexts).
public enum KeeperAPI {
    /// The API version prefix of every route.
    public static let prefix = "/v1"
    /// The largest request body the keeper accepts.
    public static let maximumBodySize = 2 * 1024 * 1024
}

/// `POST /v1/sessions` and `PUT /v1/sessions/NAME`: the session document (YAML or JSON) as text.
public struct SessionWriteRequest: Codable, Sendable {
    public var document: String
    public init(document: String) { self.document = document }
}

/// The keeper's answer to a create or update.
public struct SessionWriteResponse: Codable, Sendable, Equatable {
    public var name: String
    public var version: String
    /// SHA-256 (hex) of the canonical form of the stored version: the next update's `predecessor`.
    public var hash: String
    public init(name: String, version: String, hash: String) {
        self.name = name
        self.version = version
        self.hash = hash
    }
}

/// `GET /v1/sessions/NAME` (owner only): the stored session as canonical JSON, with generated secrets.
public struct SessionShowResponse: Codable, Sendable {
    public var name: String
    public var version: String
    public var hash: String
    /// SHA-256 (hex) of the owner's client public key.
    public var owner: String
    public var createdAt: Date
    public var updatedAt: Date
    /// The session, as canonical JSON text.
    public var session: String
    public init(name: String, version: String, hash: String, owner: String, createdAt: Date, updatedAt: Date, session: String) {
        self.name = name
        self.version = version
        self.hash = hash
        self.owner = owner
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.session = session
    }
}

/// One line of `GET /v1/sessions` (the caller's own sessions).
public struct SessionSummary: Codable, Sendable, Equatable {
    public var name: String
    public var version: String
    public var hash: String
    public var updatedAt: Date
    public init(name: String, version: String, hash: String, updatedAt: Date) {
        self.name = name
        self.version = version
        self.hash = hash
        self.updatedAt = updatedAt
    }
}

/// `POST /v1/nonce`: a single-use nonce for one service of one session.
public struct NonceRequest: Codable, Sendable {
    public var session: String
    public var service: String
    public init(session: String, service: String) {
        self.session = session
        self.service = service
    }
}

public struct NonceResponse: Codable, Sendable {
    /// 32 random bytes, hex.
    public var nonce: String
    public var expiresAt: Date
    public init(nonce: String, expiresAt: Date) {
        self.nonce = nonce
        self.expiresAt = expiresAt
    }
}

/// `POST /v1/release`: evidence bound to the nonce and the runtime's ephemeral key.
public struct ReleaseRequest: Codable, Sendable {
    public var session: String
    public var service: String
    /// The nonce from `/v1/nonce`, hex.
    public var nonce: String
    /// The evidence kind (`sim`, `sgx`, …).
    public var evidenceKind: String
    /// The evidence bytes, base64.
    public var evidence: String
    /// The runtime's ephemeral P-256 public key, x963 (65 bytes), hex.
    public var ephemeralPublicKey: String
    public init(session: String, service: String, nonce: String, evidenceKind: String, evidence: String, ephemeralPublicKey: String) {
        self.session = session
        self.service = service
        self.nonce = nonce
        self.evidenceKind = evidenceKind
        self.evidence = evidence
        self.ephemeralPublicKey = ephemeralPublicKey
    }
}

/// The release: a `ReleasePayload` sealed to the runtime's ephemeral key (see `ReleaseEnvelope`).
public struct ReleaseResponse: Codable, Sendable {
    /// The keeper's fresh ephemeral P-256 public key, x963, hex.
    public var keeperPublicKey: String
    /// AES-256-GCM combined form (12-byte IV ‖ ciphertext ‖ 16-byte tag), base64.
    public var ciphertext: String
    /// The evidence kind that was accepted; `sim` means no hardware protection.
    public var evidenceKind: String
    public init(keeperPublicKey: String, ciphertext: String, evidenceKind: String) {
        self.keeperPublicKey = keeperPublicKey
        self.ciphertext = ciphertext
        self.evidenceKind = evidenceKind
    }
}

/// What a released service receives.
public struct ReleasePayload: Codable, Sendable, Equatable {
    public struct Volume: Codable, Sendable, Equatable {
        public var name: String
        public var path: String
        /// 32-byte volume key, hex.
        public var key: String
        /// Capability for the volume's anchor routes, hex.
        public var anchorToken: String
        public init(name: String, path: String, key: String, anchorToken: String) {
            self.name = name
            self.path = path
            self.key = key
            self.anchorToken = anchorToken
        }
    }

    public struct SecretFile: Codable, Sendable, Equatable {
        public var path: String
        /// The file's content, base64.
        public var content: String
        public init(path: String, content: String) {
            self.path = path
            self.content = content
        }
    }

    public var session: String
    public var service: String
    public var sessionHash: String
    /// Shield master keys by image name, hex.
    public var keys: [String: String]
    public var volumes: [Volume]
    public var command: [String]
    public var environment: [String: String]
    public var workingDir: String?
    public var user: String?
    public var allowHostEnv: [String]
    public var allowHostArgs: Bool
    public var files: [SecretFile]

    public init(session: String, service: String, sessionHash: String, keys: [String: String], volumes: [Volume],
                command: [String], environment: [String: String], workingDir: String?, user: String?,
                allowHostEnv: [String], allowHostArgs: Bool, files: [SecretFile]) {
        self.session = session
        self.service = service
        self.sessionHash = sessionHash
        self.keys = keys
        self.volumes = volumes
        self.command = command
        self.environment = environment
        self.workingDir = workingDir
        self.user = user
        self.allowHostEnv = allowHostEnv
        self.allowHostArgs = allowHostArgs
        self.files = files
    }
}

/// Every non-2xx answer: a stable machine-readable `reason` and a human message.
public struct KeeperErrorResponse: Codable, Sendable, Equatable {
    public var reason: String
    public var message: String
    public init(reason: String, message: String) {
        self.reason = reason
        self.message = message
    }
}
