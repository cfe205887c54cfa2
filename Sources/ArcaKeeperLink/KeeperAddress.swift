import ArcaCore

/// Where the keeper listens: `https://HOST[:PORT][/]`, HOST a DNS name, an IPv4 address or a
/// bracketed IPv6 address; the port defaults to 8443 (as `arca keeper serve`).
public struct KeeperAddress: Sendable, Equatable, CustomStringConvertible {
    public static let defaultPort = 8443
    /// The environment variable that overrides the measured config's keeper address.
    public static let overrideVariable = "ARCA_KEEPER"

    /// The host without brackets.
    public let host: String
    public let port: Int

    /// `host:port` (IPv6 in brackets), as error messages show it.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Whether `host` is a DNS name (and so may be sent as SNI) rather than an IP literal.
    public var isDNSName: Bool {
        if host.contains(":") { return false }
        return !host.split(separator: ".", omittingEmptySubsequences: false)
            .allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
    }

    public init(host: String, port: Int) throws {
        guard (1...65535).contains(port) else {
            throw ArcaError(.invalidArgument, "keeper port \(port) is outside 1…65535")
        }
        guard !host.isEmpty, host.utf8.count <= 253,
              host.utf8.allSatisfy({ Self.hostCharacters.contains($0) }) else {
            throw ArcaError(.invalidArgument, "keeper host \(printable(host.utf8, limit: 80)) is not a dns name or ip address")
        }
        self.host = host
        self.port = port
    }

    /// Parses `https://HOST[:PORT][/]`; anything else (another scheme, user info, a path, a query) is refused.
    public init(url: String) throws {
        let shown = printable(url.utf8, limit: 200)
        guard url.hasPrefix("https://") else {
            throw ArcaError(.invalidArgument, "keeper url \(shown) is not https://HOST[:PORT]")
        }
        var rest = Substring(url.dropFirst(8))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/"), !rest.contains("@"), !rest.contains("?"), !rest.contains("#") else {
            throw ArcaError(.invalidArgument, "keeper url \(shown) has a path, user info or query; give https://HOST[:PORT]")
        }
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else {
                throw ArcaError(.invalidArgument, "keeper url \(shown) has an unterminated [ipv6] host")
            }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else {
                    throw ArcaError(.invalidArgument, "keeper url \(shown) has text after the [ipv6] host")
                }
                portText = after.dropFirst()
            }
            guard host.contains(":") else {
                throw ArcaError(.invalidArgument, "keeper url \(shown) has brackets around a host that is not ipv6")
            }
        } else {
            let parts = rest.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            host = parts[0]
            portText = parts.count == 2 ? parts[1] : nil
            guard !host.contains(":") else {
                throw ArcaError(.invalidArgument, "keeper url \(shown): put an ipv6 host in brackets")
            }
        }
        var port = Self.defaultPort
        if let portText {
            guard (1...5).contains(portText.count), portText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(portText) else {
                throw ArcaError(.invalidArgument, "keeper url \(shown) has port \(printable(portText.utf8, limit: 20)), not a number in 1…65535")
            }
            port = value
        }
        try self.init(host: String(host), port: port)
    }

    /// The keeper address to use: `ARCA_KEEPER` when set and non-empty (`override`), else the
    /// measured config's. The pin still comes from the measured config, so an override can
    /// redirect the runtime only to a server that holds the pinned key.
    public static func resolve(measured: String?, override: String? = environmentValue(overrideVariable)) throws -> KeeperAddress {
        if let override, !override.isEmpty { return try KeeperAddress(url: override) }
        guard let measured, !measured.isEmpty else {
            throw ArcaError(.notFound, "no keeper address: the measured config names none and \(overrideVariable) is not set")
        }
        return try KeeperAddress(url: measured)
    }

    // Letters, digits, '-', '.', ':' (IPv6) and '%' (an IPv6 zone) — nothing that could split a header line.
    private static let hostCharacters: Set<UInt8> = Set(Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.:%_".utf8))
}
