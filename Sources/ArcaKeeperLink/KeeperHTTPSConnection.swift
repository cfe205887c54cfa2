import ArcaCore
import FoundationEssentials

/// One pinned TLS 1.3 connection to the keeper that carries requests one after another (HTTP/1.1
/// keep-alive), so that an attestation's nonce and release requests share one handshake.
/// The pin is checked right after the handshake, before any request byte is sent. Not thread-safe:
/// one request at a time, from one thread.
public final class KeeperHTTPSConnection {
    public let address: KeeperAddress
    private let options: KeeperLinkOptions
    private let tls: TLSSession
    /// False once the keeper said it closes, a request failed midway, or a response left stray
    /// bytes behind (the next answer could not be told apart from them).
    public private(set) var isReusable = true

    /// Connects, runs the handshake and checks the keeper's key against `client.pin`.
    init(client: KeeperHTTPSClient) throws {
        address = client.address
        options = client.options
        let deadline = Deadline(secondsFromNow: options.requestTimeout)
        let tcp = try TCPConnection.connect(to: address, timeout: options.connectTimeout, ioTimeout: options.ioTimeout)
        tls = try TLSSession(connection: tcp, deadline: deadline)
        try tls.handshake()
        let presented = sha256Hex(try tls.peerPublicKeyInfo())
        guard presented == client.pin else {
            throw ArcaError(.pinMismatch, "the server at \(address) presented key sha256:\(presented), but the keeper pin is sha256:\(client.pin); refusing it (nothing was sent)")
        }
    }

    /// Sends one request and returns the status and body of the answer, whatever the status.
    /// - Parameter keepAlive: ask the keeper to keep the connection open for another request;
    ///   false sends `Connection: close` (the last request on this connection).
    public func send(method: String, path: String, body: [UInt8]?, keepAlive: Bool) throws -> (status: Int, body: [UInt8]) {
        try KeeperHTTPSClient.check(method: method, path: path, body: body, options: options)
        guard isReusable else {
            throw ArcaError(.invalidArgument, "the connection to the keeper at \(address) cannot carry another request")
        }
        isReusable = false   // until this exchange completes cleanly
        tls.deadline = Deadline(secondsFromNow: options.requestTimeout)
        try tls.write(KeeperHTTPSClient.head(method: method, path: path, host: address.description,
                                             bodyCount: body?.count, keepAlive: keepAlive) + (body ?? []))
        var reader = HTTPResponseReader(source: tls, limits: .init(maximumBodySize: options.maximumBodySize), peer: address.description)
        let response = try reader.read()
        isReusable = keepAlive && response.keepsConnectionOpen && !reader.hasUnreadInput
        return (response.status, response.body)
    }

    /// POSTs `request` as JSON and decodes the JSON answer; a non-2xx answer throws `keeperRefused`
    /// with the keeper's `KeeperErrorResponse` as a `KeeperRefusal` cause.
    public func post<Request: Encodable, Response: Decodable>(_ path: String, _ request: Request, as type: Response.Type = Response.self,
                                                              keepAlive: Bool) throws -> Response {
        let body = Array(try JSONEncoder().encode(request))
        let (status, bytes) = try send(method: "POST", path: path, body: body, keepAlive: keepAlive)
        return try KeeperHTTPSClient.decode(path: path, status: status, body: bytes, address: address)
    }
}
