import ArcaCore
import Crypto

/// A content digest as the OCI image spec defines it: `algorithm:encoded`. Only SHA-256 is
/// accepted, and its encoded part must be 64 lowercase hex characters (validated on init).
public struct Digest: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public let algorithm: String
    /// The lowercase hex part.
    public let encoded: String

    public init(parsing text: String) throws {
        guard let colon = text.firstIndex(of: ":") else {
            throw ArcaError(.invalidFormat, "digest \"\(text.prefix(80))\" has no algorithm (expected sha256:<64 hex>)")
        }
        let algorithm = String(text[..<colon])
        let encoded = String(text[text.index(after: colon)...])
        guard algorithm == "sha256" else {
            throw ArcaError(.unsupported, "digest algorithm \"\(algorithm.prefix(40))\" is not supported (only sha256)")
        }
        guard encoded.utf8.count == 64, encoded.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else {
            throw ArcaError(.invalidFormat, "digest \"\(text.prefix(80))\" is not sha256 followed by 64 lowercase hex digits")
        }
        self.algorithm = algorithm
        self.encoded = encoded
    }

    /// A digest from a hex SHA-256 already computed (for example by a `HashingSink`).
    public init(sha256Hex hex: String) {
        self.algorithm = "sha256"
        self.encoded = hex
    }

    /// The SHA-256 digest of `bytes`.
    public static func sha256(of bytes: some Sequence<UInt8>) -> Digest {
        Digest(sha256Hex: sha256Hex(bytes))
    }

    public var description: String { "\(algorithm):\(encoded)" }

    /// `sha256:0123456789ab…` — for messages.
    public var short: String { "\(algorithm):\(encoded.prefix(12))" }

    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.description < rhs.description }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(parsing: text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
