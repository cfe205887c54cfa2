import ArcaCore
import ArcaKeeperAPI
import FoundationEssentials

/// A minimal HTTPS/1.1 client for the keeper API, for `arca-init` (no SwiftNIO): one request per
/// connection (`send`, `post`) or several on one kept-alive connection (`connect`), TLS 1.3 only, the server recognised by its pin — SHA-256 (hex) of its certificate's
/// SubjectPublicKeyInfo, as `TLSIdentity.pin` computes it — with no CA or host-name validation.
/// The pin is checked after the handshake and before any request byte is sent.
public struct KeeperHTTPSClient: Sendable {
    public let address: KeeperAddress
    /// The expected pin, 64 lowercase hex digits.
    public let pin: String
    public let options: KeeperLinkOptions

    /// - Parameter pin: the keeper's fingerprint (`sha256:` prefix accepted).
    public init(address: KeeperAddress, pin: String, options: KeeperLinkOptions = KeeperLinkOptions()) throws {
        self.address = address
        self.pin = try TLSIdentity.normalisePin(pin)
        self.options = options
    }

    /// Sends one request on a connection of its own (closed after the answer); returns the status
    /// and body of the answer, whatever the status.
    public func send(method: String, path: String, body: [UInt8]?) throws -> (status: Int, body: [UInt8]) {
        try Self.check(method: method, path: path, body: body, options: options)
        return try connect().send(method: method, path: path, body: body, keepAlive: false)
    }

    /// Opens a pinned connection for several requests in turn (see `KeeperHTTPSConnection`).
    public func connect() throws -> KeeperHTTPSConnection {
        try KeeperHTTPSConnection(client: self)
    }

    /// POSTs `request` as JSON on a connection of its own and decodes the JSON answer. A non-2xx
    /// answer throws `keeperRefused` with the keeper's `KeeperErrorResponse` as a `KeeperRefusal` cause.
    public func post<Request: Encodable, Response: Decodable>(_ path: String, _ request: Request,
                                                              as type: Response.Type = Response.self) throws -> Response {
        let body = Array(try JSONEncoder().encode(request))
        let (status, bytes) = try send(method: "POST", path: path, body: body)
        return try Self.decode(path: path, status: status, body: bytes, address: address)
    }

    /// Refuses what no request to the keeper looks like, before anything is sent.
    static func check(method: String, path: String, body: [UInt8]?, options: KeeperLinkOptions) throws {
        guard path.hasPrefix("/"), path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }), path.utf8.count <= 2048 else {
            throw ArcaError(.invalidArgument, "request path \(printable(path.utf8, limit: 80)) is not an absolute path of printable ascii")
        }
        guard ["GET", "POST", "PUT", "DELETE"].contains(method) else {
            throw ArcaError(.invalidArgument, "http method \(printable(method.utf8, limit: 20)) is not one of GET, POST, PUT, DELETE")
        }
        if let body, body.count > options.maximumBodySize {
            throw ArcaError(.limitExceeded, "request body is \(formatBytes(body.count)), over the \(formatBytes(options.maximumBodySize)) limit")
        }
    }

    /// The JSON answer to `path`, or `keeperRefused` for a non-2xx status.
    static func decode<Response: Decodable>(path: String, status: Int, body bytes: [UInt8], address: KeeperAddress) throws -> Response {
        guard (200..<300).contains(status) else {
            let refusal = Self.refusal(status: status, body: bytes)
            throw ArcaError(.keeperRefused, "the keeper at \(address) refused \(path) (\(status) \(refusal.reason)): \(refusal.message)",
                            cause: refusal)
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(Response.self, from: Data(bytes))
        } catch {
            throw ArcaError(.invalidFormat, "the keeper at \(address) answered \(path) with unexpected json (\(bytes.count) bytes)")
        }
    }

    /// The keeper's reason from an error body; a body that is not a `KeeperErrorResponse`
    /// (a proxy's page) is shown as short printable text under reason `http-STATUS`.
    static func refusal(status: Int, body: [UInt8]) -> KeeperRefusal {
        if let error = try? JSONDecoder().decode(KeeperErrorResponse.self, from: Data(body)) {
            return KeeperRefusal(status: status, reason: printable(error.reason.utf8, limit: 80),
                                 message: printable(error.message.utf8, limit: 500))
        }
        return KeeperRefusal(status: status, reason: "http-\(status)",
                             message: body.isEmpty ? "(empty body)" : printable(body, limit: 200))
    }

    static func head(method: String, path: String, host: String, bodyCount: Int?, keepAlive: Bool = false) -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: arca-init\r\nAccept: application/json\r\n"
        head += keepAlive ? "Connection: keep-alive\r\n" : "Connection: close\r\n"
        if let bodyCount {
            head += "Content-Type: application/json\r\nContent-Length: \(bodyCount)\r\n"
        } else if method == "POST" || method == "PUT" {
            head += "Content-Length: 0\r\n"
        }
        return Array((head + "\r\n").utf8)
    }
}
