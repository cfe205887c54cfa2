import ArcaCore
import ArcaOCI
import Crypto
import FoundationEssentials

/// Everything the measurement covers besides the runtime itself (ARCHITECTURE.md, "Measurement").
/// Stored as canonical JSON at `/.arca/measured-config.json` in the shield layer; `arca-init`
/// and `arca measure` recompute the measurement from it, and the keeper compares.
public struct MeasuredConfig: Codable, Hashable, Sendable {
    /// How the service was started in the native image, and is started by `arca-init`.
    public struct ServiceConfig: Codable, Hashable, Sendable {
        public var entrypoint: [String]
        public var cmd: [String]
        public var env: [String]
        public var workingDir: String
        public var user: String
    }

    /// The keeper this image talks to, pinned by its public-key fingerprint.
    public struct Keeper: Codable, Hashable, Sendable {
        public var url: String?
        public var pin: String?
        public var session: String?
    }

    public var formatVersion: Int
    public var arcaVersion: String
    /// The diff_id of the runtime layer (`/.arca/bin/arca-init` and its libraries).
    public var runtime: ArcaOCI.Digest
    /// The diff_ids of the image's own layers as sealed (kept or rewritten), in order.
    public var layers: [ArcaOCI.Digest]
    /// The shield index roots (SHA-256 of each index), in layer order.
    public var shieldRoots: [String]
    public var service: ServiceConfig
    public var policy: [PolicyRule]
    public var keeper: Keeper
    /// Resource settings that change behaviour (none yet; kept so adding them changes the measurement).
    public var resources: [String: String]

    public static let currentFormatVersion = 1
    /// Domain separation for the measurement hash.
    static let domainTag = Array("arca-measurement-v1".utf8) + [0]

    /// `SHA-256(domain tag ‖ runtime digest ‖ canonical measured config)`, as lowercase hex.
    public func measurement() throws -> String {
        var hasher = SHA256()
        hasher.update(data: Self.domainTag)
        hasher.update(data: Hex.decode(runtime.encoded) ?? [])
        hasher.update(data: try canonicalBytes())
        return Hex.encode(hasher.finalize())
    }

    public func canonicalBytes() throws -> [UInt8] {
        try CanonicalJSON.encode(self)
    }

    public static func parse(_ bytes: [UInt8], source: String) throws -> MeasuredConfig {
        let config = try CanonicalJSON.decode(MeasuredConfig.self, from: bytes, source: source)
        guard config.formatVersion == currentFormatVersion else {
            throw ArcaError(.unsupported, "\(source) has measured-config format \(config.formatVersion); this arca reads \(currentFormatVersion)")
        }
        guard try config.canonicalBytes() == bytes else {
            throw ArcaError(.invalidFormat, "\(source) is not in canonical form (sorted keys, no spaces), so its measurement would be ambiguous")
        }
        return config
    }
}

/// Where the sealed image keeps Arca's files, and the labels it carries.
public enum SealedLayout {
    public static let measuredConfigPath = ".arca/measured-config.json"
    public static let indexPath = ".arca/shield/index"
    public static let blobPath = ".arca/shield/blob"
    public static let arcaInitPath = "/.arca/bin/arca-init"
    public static let measurementLabel = "dev.arca.measurement"
    public static let versionLabel = "dev.arca.version"
    public static let sessionLabel = "dev.arca.session"
    public static let baseDigestLabel = "org.opencontainers.image.base.digest"
}
