import ArcaCore
import ArcaKeeperAPI
import FoundationEssentials
import NIOHTTP1

/// A refusal from the keeper: HTTP status, the keeper's reason and message.
public struct KeeperRequestError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var reason: String
    public var message: String
    public var description: String { "the keeper refused (\(status) \(reason)): \(message)" }
}

/// The CLI's client for the keeper API.
public struct KeeperClient: Sendable {
    private let transport: HTTPSTransport

    /// - Parameters:
    ///   - url: `https://HOST:PORT`.
    ///   - pin: the keeper's public-key fingerprint (`arca keeper serve` prints it).
    ///   - identity: the client identity (its key owns the sessions it creates).
    public init(url: String, pin: String, identity: TLSIdentity?) throws {
        guard let parsed = URL(string: url), parsed.scheme == "https", let host = parsed.host else {
            throw ArcaError(.invalidArgument, "keeper url \(url.prefix(200)) is not https://HOST:PORT")
        }
        transport = try HTTPSTransport(host: host, port: parsed.port ?? 8443, pin: try TLSIdentity.normalisePin(pin), identity: identity)
    }

    public func createSession(document: String) async throws -> SessionWriteResponse {
        try await call(.POST, "/v1/sessions", SessionWriteRequest(document: document))
    }

    public func updateSession(name: String, document: String) async throws -> SessionWriteResponse {
        try await call(.PUT, "/v1/sessions/\(Self.escape(name))", SessionWriteRequest(document: document))
    }

    public func showSession(name: String) async throws -> SessionShowResponse {
        try await call(.GET, "/v1/sessions/\(Self.escape(name))", Optional<SessionWriteRequest>.none)
    }

    public func listSessions() async throws -> [SessionSummary] {
        try await call(.GET, "/v1/sessions", Optional<SessionWriteRequest>.none)
    }

    public func deleteSession(name: String) async throws {
        _ = try await raw(.DELETE, "/v1/sessions/\(Self.escape(name))", body: nil)
    }

    public func nonce(session: String, service: String) async throws -> NonceResponse {
        try await call(.POST, "/v1/nonce", NonceRequest(session: session, service: service))
    }

    public func release(_ request: ReleaseRequest) async throws -> ReleaseResponse {
        try await call(.POST, "/v1/release", request)
    }

    public func anchor(_ operation: String, _ request: AnchorRequest) async throws -> AnchorState {
        try await call(.POST, "/v1/anchors/\(operation)", request)
    }

    /// Percent-encodes everything but unreserved characters and `/` (names are validated by the keeper).
    static func escape(_ name: String) -> String {
        var out = ""
        for byte in name.utf8 {
            let c = Character(UnicodeScalar(byte))
            if c.isASCII && (c.isLetter || c.isNumber || "-._~/".contains(c)) {
                out.append(c)
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded()
            }
        }
        return out
    }

    /// Any request; non-2xx answers throw `KeeperRequestError`. Returns the status and body.
    public func raw(_ method: HTTPMethod, _ path: String, body: [UInt8]?) async throws -> (status: Int, body: [UInt8]) {
        let (status, bytes) = try await transport.send(method: method, path: path, body: body)
        guard (200..<300).contains(status) else {
            let error = try? JSONDecoder().decode(KeeperErrorResponse.self, from: Data(bytes))
            throw KeeperRequestError(status: status, reason: error?.reason ?? "http-\(status)",
                                     message: error?.message ?? String(decoding: bytes.prefix(500), as: UTF8.self))
        }
        return (status, bytes)
    }

    private func call<Body: Encodable, Result: Decodable>(_ method: HTTPMethod, _ path: String, _ body: Body?) async throws -> Result {
        let encoded = try body.map { Array(try JSONEncoder().encode($0)) }
        let (_, bytes) = try await raw(method, path, body: encoded)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(Result.self, from: Data(bytes))
        } catch {
            throw ArcaError(.invalidFormat, "keeper answered \(path) with unexpected json")
        }
    }
}

private extension String {
    func leftPadded() -> String { count == 1 ? "0" + self : self }
}
