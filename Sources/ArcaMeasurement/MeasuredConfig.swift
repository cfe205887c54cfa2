import ArcaCore
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

        public init(entrypoint: [String], cmd: [String], env: [String], workingDir: String, user: String) {
            self.entrypoint = entrypoint
            self.cmd = cmd
            self.env = env
            self.workingDir = workingDir
            self.user = user
        }
    }

    /// The keeper this image talks to, pinned by its public-key fingerprint.
    public struct Keeper: Codable, Hashable, Sendable {
        public var url: String?
        public var pin: String?
        public var session: String?

        public init(url: String?, pin: String?, session: String?) {
            self.url = url
            self.pin = pin
            self.session = session
        }
    }

    public var formatVersion: Int
    public var arcaVersion: String
    /// The diff_id (`sha256:<hex>`) of the runtime layer (`/.arca/bin/arca-init` and its libraries).
    public var runtime: String
    /// The diff_ids of the image's own layers as sealed (kept or rewritten), in order.
    public var layers: [String]
    /// The shield index roots (SHA-256 of each index), in layer order.
    public var shieldRoots: [String]
    public var service: ServiceConfig
    public var policy: [PolicyRule]
    public var keeper: Keeper
    /// Resource settings that change behaviour (none yet; kept so adding them changes the measurement).
    public var resources: [String: String]

    public init(formatVersion: Int = MeasuredConfig.currentFormatVersion, arcaVersion: String, runtime: String, layers: [String],
                shieldRoots: [String], service: ServiceConfig, policy: [PolicyRule], keeper: Keeper, resources: [String: String]) {
        self.formatVersion = formatVersion
        self.arcaVersion = arcaVersion
        self.runtime = runtime
        self.layers = layers
        self.shieldRoots = shieldRoots
        self.service = service
        self.policy = policy
        self.keeper = keeper
        self.resources = resources
    }

    public static let currentFormatVersion = 1
    /// Domain separation for the measurement hash.
    static let domainTag = Array("arca-measurement-v1".utf8) + [0]

    /// `SHA-256(domain tag ‖ runtime digest ‖ canonical measured config)`, as lowercase hex.
    public func measurement() throws -> String {
        var hasher = SHA256()
        hasher.update(data: Self.domainTag)
        hasher.update(data: Self.digestBytes(runtime) ?? [])
        hasher.update(data: try canonicalBytes())
        return Hex.encode(hasher.finalize())
    }

    /// Canonical JSON: sorted keys, no spaces, no escaped slashes (the same rules as OCI blobs).
    public func canonicalBytes() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self))
    }

    public static func parse(_ bytes: [UInt8], source: String) throws -> MeasuredConfig {
        let config: MeasuredConfig
        do {
            config = try JSONDecoder().decode(MeasuredConfig.self, from: Data(bytes))
        } catch {
            throw ArcaError(.invalidFormat, "\(source) is not a valid measured config: \(error)")
        }
        guard ([config.runtime] + config.layers).allSatisfy({ digestBytes($0) != nil }) else {
            throw ArcaError(.invalidFormat, "\(source) names a layer or runtime that is not sha256:<64 hex digits>")
        }
        guard config.formatVersion == currentFormatVersion else {
            throw ArcaError(.unsupported, "\(source) has measured-config format \(config.formatVersion); this arca reads \(currentFormatVersion)")
        }
        guard try config.canonicalBytes() == bytes else {
            throw ArcaError(.invalidFormat, "\(source) is not in canonical form (sorted keys, no spaces), so its measurement would be ambiguous")
        }
        return config
    }
}

extension MeasuredConfig {
    /// The 32 bytes of a `sha256:<64 lowercase hex>` digest, or nil.
    static func digestBytes(_ digest: String) -> [UInt8]? {
        guard digest.hasPrefix("sha256:"), digest.utf8.count == 71,
              digest.utf8.dropFirst(7).allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return nil }
        return Hex.decode(digest.dropFirst(7))
    }
}

/// Where the sealed image keeps Arca's files, and the labels it carries.
public enum SealedLayout {
    public static let measuredConfigPath = ".arca/measured-config.json"
    /// Where `arca-init` mounts the protected root before pivoting into it (an empty directory in the shield layer).
    public static let protectedRootPath = ".arca/root"
    public static let indexPath = ".arca/shield/index"
    /// Where the blobs live: one file per stream, named by its stream id, each in its own layer.
    public static let blobDirectory = ".arca/shield/blobs"
    /// The blob of the stream whose id is `streamIdHex` (64 hex digits).
    public static func blobPath(streamIdHex: String) -> String { blobDirectory + "/" + streamIdHex }
    public static let arcaInitPath = "/.arca/bin/arca-init"
    public static let measurementLabel = "dev.arca.measurement"
    public static let versionLabel = "dev.arca.version"
    public static let sessionLabel = "dev.arca.session"
    public static let baseDigestLabel = "org.opencontainers.image.base.digest"
}
