import ArcaCore
import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOSSL

/// One HTTP request as the registry client sends it. The body is a buffer (never a stream), so a
/// request can be sent again after a retryable failure.
struct HTTPRequest {
    var method: HTTPMethod
    var url: String
    var headers: HTTPHeaders = HTTPHeaders()
    var body: ByteBuffer?
    /// A body streamed by the caller instead (never replayed, so never retried).
    var stream: StreamedBody?
}

/// A thin synchronous layer over AsyncHTTPClient: requests go out on NIO's event loops, and the
/// caller's thread blocks for the response head and then pulls the body as a `ByteSource`.
/// Redirects are not followed here (the registry client does it, so credentials never travel to
/// another host).
final class HTTPTransport: Sendable {
    private let client: HTTPClient
    /// Response bytes buffered per request before the connection stops reading (back-pressure).
    let bufferLimit: Int

    init(tls: TLSConfiguration, connectTimeout: Duration, readTimeout: Duration, bufferLimit: Int = 4 << 20) {
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls,
            redirectConfiguration: .disallow,
            timeout: HTTPClient.Configuration.Timeout(connect: TimeAmount(connectTimeout), read: TimeAmount(readTimeout)),
            decompression: .disabled)
        configuration.connectionPool = HTTPClient.Configuration.ConnectionPool(idleTimeout: .seconds(30))
        // The registry client retries with its own backoff; AsyncHTTPClient's own retries of a
        // failed connect would make every try last the whole connect timeout (a refused port took
        // 43 s to report instead of 3.5 s).
        configuration.connectionPool.retryConnectionEstablishment = false
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.bufferLimit = bufferLimit
    }

    deinit {
        // Owners release the transport from their own threads, never from an event loop.
        try? client.syncShutdown()
    }

    /// Sends `request` without waiting; `PendingResponse.wait()` blocks for the answer.
    func start(_ request: HTTPRequest) throws -> PendingResponse {
        let ahcRequest: HTTPClient.Request
        do {
            ahcRequest = try HTTPClient.Request(url: request.url, method: request.method, headers: request.headers,
                                                body: request.stream?.body ?? request.body.map { .byteBuffer($0) })
        } catch {
            throw ArcaError(.invalidArgument, "\(request.url.prefix(200)) is not a valid URL (\(error))")
        }
        let body = ResponseBody(highWater: bufferLimit, streaming: request.stream)
        let task = client.execute(request: ahcRequest, delegate: body)
        return PendingResponse(request: request, body: body, task: task)
    }

    /// A streamed request body, to be sent with `start`.
    func makeStreamedBody(length: Int64?) -> StreamedBody {
        StreamedBody(length: length, eventLoop: client.eventLoopGroup.next())
    }

    /// Sends `request` and waits for the response head.
    func send(_ request: HTTPRequest) throws -> HTTPResponse {
        try start(request).wait()
    }
}

/// A request on its way; `wait()` returns its response once the head has arrived.
final class PendingResponse {
    let request: HTTPRequest
    private let body: ResponseBody
    private let task: HTTPClient.Task<Void>
    private var waited = false

    fileprivate init(request: HTTPRequest, body: ResponseBody, task: HTTPClient.Task<Void>) {
        self.request = request
        self.body = body
        self.task = task
    }

    /// Blocks for the response head; throws `TransportError` when no response came (connection
    /// refused or reset, TLS failure, timeout).
    func wait() throws -> HTTPResponse {
        waited = true
        let head = try body.waitForHead()
        return HTTPResponse(request: request, head: head, body: body, task: task)
    }

    deinit {
        if !waited { body.cancel(task) }
    }
}

/// The failure of a request that got no HTTP response: retryable (unless its body was streamed).
struct TransportError: Error, Sendable, CustomStringConvertible {
    var description: String
}

/// A response: status and headers, and the body as a blocking `ByteSource`.
final class HTTPResponse: ByteSource {
    let request: HTTPRequest
    let status: HTTPResponseStatus
    let headers: HTTPHeaders
    private let body: ResponseBody
    private let task: HTTPClient.Task<Void>
    private var current: ByteBuffer?
    private var ended = false

    fileprivate init(request: HTTPRequest, head: HTTPResponseHead, body: ResponseBody, task: HTTPClient.Task<Void>) {
        self.request = request
        self.status = head.status
        self.headers = head.headers
        self.body = body
        self.task = task
    }

    deinit { close() }

    /// The value of a header (the first one when repeated).
    func header(_ name: String) -> String? { headers.first(name: name) }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while !ended {
            if var chunk = current, chunk.readableBytes > 0 {
                let n = min(buffer.count, chunk.readableBytes)
                chunk.withUnsafeReadableBytes { bytes in
                    buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[..<n]))
                }
                chunk.moveReaderIndex(forwardBy: n)
                current = chunk
                return n
            }
            current = nil
            guard let next = try body.next() else {
                ended = true
                return 0
            }
            current = next
        }
        return 0
    }

    /// Reads the whole (small) body; a larger body is an error naming `what`.
    func readBody(limit: Int, what: String) throws -> [UInt8] {
        try readAll(limit: limit, what: what)
    }

    /// Reads up to `limit` bytes of the body for an error message and drops the rest.
    func readErrorBody(limit: Int = 16 << 10) -> [UInt8] {
        let bytes = (try? readPrefix(limit)) ?? []
        close()
        return bytes
    }

    /// Stops reading: cancels the request when its body has not been read to the end.
    func close() {
        guard !ended else { return }
        ended = true
        current = nil
        body.cancel(task)
    }
}

/// The delegate that receives a response on an event loop and hands it to a blocking reader,
/// holding at most about `highWater` bytes: past that, the connection stops reading until the
/// reader catches up.
final class ResponseBody: HTTPClientResponseDelegate, Sendable {
    typealias Response = Void

    struct State {
        var head: HTTPResponseHead?
        var chunks = CircularBuffer<ByteBuffer>()
        var buffered = 0
        var finished = false
        var error: TransportError?
        /// Completed when the reader has drained the buffer: NIO reads on only then.
        var pending: EventLoopPromise<Void>?
        var cancelled = false
    }

    private let state = Monitor(State())
    private let highWater: Int
    /// The request's streamed body, told when the request ends before it does.
    private let streaming: StreamedBody?

    init(highWater: Int, streaming: StreamedBody? = nil) {
        self.highWater = highWater
        self.streaming = streaming
    }

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        state.withLock { $0.head = head }
        streaming?.stop("the registry answered \(head.status.code) before the upload ended")
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        let highWater = self.highWater
        return state.withLock { state in
            guard !state.cancelled else { return task.eventLoop.makeSucceededVoidFuture() }
            state.chunks.append(buffer)
            state.buffered += buffer.readableBytes
            guard state.buffered >= highWater else { return task.eventLoop.makeSucceededVoidFuture() }
            let promise = task.eventLoop.makePromise(of: Void.self)
            state.pending = promise
            return promise.futureResult
        }
    }

    func didReceiveError(task: HTTPClient.Task<Void>, _ error: any Error) {
        streaming?.stop(Self.describe(error))
        let pending = state.withLock { state -> EventLoopPromise<Void>? in
            state.error = TransportError(description: Self.describe(error))
            defer { state.pending = nil }
            return state.pending
        }
        pending?.succeed(())
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {
        state.withLock { $0.finished = true }
    }

    func waitForHead() throws -> HTTPResponseHead {
        try state.wait { state in
            if let head = state.head { return head }
            if let error = state.error { throw error }
            if state.finished { throw TransportError(description: "the connection closed without a response") }
            return nil
        }
    }

    /// The next body chunk, blocking until one arrives; nil at the end.
    func next() throws -> ByteBuffer? {
        let highWater = self.highWater
        let (chunk, release) = try state.wait { state -> (ByteBuffer?, EventLoopPromise<Void>?)? in
            if let error = state.error { throw error }
            if let chunk = state.chunks.popFirst() {
                state.buffered -= chunk.readableBytes
                var release: EventLoopPromise<Void>?
                if state.buffered < highWater / 2 {
                    release = state.pending
                    state.pending = nil
                }
                return (chunk, release)
            }
            if state.finished { return (nil, nil) }
            return nil
        }
        release?.succeed(())
        return chunk
    }

    /// Cancels the request (when unfinished) and releases a waiting event loop.
    func cancel(_ task: HTTPClient.Task<Void>) {
        let (finished, pending) = state.withLock { state -> (Bool, EventLoopPromise<Void>?) in
            state.cancelled = true
            state.chunks.removeAll()
            state.buffered = 0
            defer { state.pending = nil }
            return (state.finished || state.error != nil, state.pending)
        }
        pending?.succeed(())
        if !finished { task.cancel() }
    }

    /// Names a connection failure without internals that mean nothing to a user.
    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return "connection timed out"
            case .readTimeout: return "no data from the server within the read timeout"
            case .remoteConnectionClosed: return "the server closed the connection"
            case .cancelled: return "the request was cancelled"
            default: return "\(error)"
            }
        }
        if let error = error as? NIOSSLError { return "TLS error: \(error)" }
        if let error = error as? BoringSSLError { return "TLS error: \(error)" }
        return "\(error)"
    }
}
