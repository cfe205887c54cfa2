import ArcaCore

extension ArcaError.Code {
    /// No TCP connection to the keeper (refused, no route, no answer within the connect timeout, name not found).
    public static let keeperUnreachable = ArcaError.Code(rawValue: "keeper-unreachable")
    /// The TLS handshake or the TLS record layer failed.
    public static let tlsFailure = ArcaError.Code(rawValue: "tls-failure")
    /// The server's public key is not the one the measured config pins.
    public static let pinMismatch = ArcaError.Code(rawValue: "pin-mismatch")
    /// The keeper answered with a non-2xx status; the cause is a `KeeperRefusal` with its reason.
    public static let keeperRefused = ArcaError.Code(rawValue: "keeper-refused")
}

/// A non-2xx answer from the keeper: the HTTP status and the keeper's `KeeperErrorResponse`
/// (`reason` is stable and machine-readable, e.g. `measurement-mismatch`).
public struct KeeperRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var reason: String
    public var message: String

    public init(status: Int, reason: String, message: String) {
        self.status = status
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(status) \(reason): \(message)" }
}

extension ArcaError {
    /// The keeper's refusal behind a `keeperRefused` error, if this is one.
    public var keeperRefusal: KeeperRefusal? { cause as? KeeperRefusal }
}

/// Keeps untrusted text (a server's status line, a non-JSON error body) printable and short
/// before it goes into an error message: no control characters reach a terminal or a log.
func printable(_ bytes: some Collection<UInt8>, limit: Int = 200) -> String {
    var out = ""
    for byte in bytes.prefix(limit) {
        out.append(byte >= 0x20 && byte < 0x7f ? Character(UnicodeScalar(byte)) : "?")
    }
    return bytes.count > limit ? out + "…" : out
}
