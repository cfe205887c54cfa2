import ArcaCore
import AsyncHTTPClient
import NIOCore

/// A request body written from a blocking thread while the request is on the wire: the streamed
/// `PATCH` of a large blob upload, sent as one request because registries handle one long upload
/// much faster than many chunks (distribution 2.8 took twice as long for 8 MiB chunks).
///
/// Back-pressure: one buffer is on its way to the socket while the caller fills the next. A body
/// that was streamed cannot be sent again, so such a request is never retried.
final class StreamedBody: Sendable {
    private struct State {
        var writer: HTTPClient.Body.StreamWriter?
        var pending: EventLoopFuture<Void>?
        /// Set when the request ended before the body did (an error, or an early answer).
        var stopped: String?
    }

    private let state = Monitor(State())
    private let done: EventLoopPromise<Void>
    /// The Content-Length when the size is known, else the body goes chunked.
    let length: Int64?

    /// `eventLoop`: any loop of the client's (AsyncHTTPClient accepts the end of the body from any).
    init(length: Int64?, eventLoop: any EventLoop) {
        self.length = length
        self.done = eventLoop.makePromise(of: Void.self)
    }

    /// The body for AsyncHTTPClient: it hands over its writer and ends when `finish` is called.
    var body: HTTPClient.Body {
        .stream(contentLength: length) { [state, done] writer in
            state.withLock { $0.writer = writer }
            return done.futureResult
        }
    }

    /// Sends `buffer` once the previous one is through; throws `TransportError` when the request
    /// ended early.
    func write(_ buffer: ByteBuffer) throws {
        let (writer, previous) = try state.wait { state -> (HTTPClient.Body.StreamWriter, EventLoopFuture<Void>?)? in
            if let stopped = state.stopped { throw TransportError(description: stopped) }
            guard let writer = state.writer else { return nil }
            return (writer, state.pending)
        }
        try settle(previous)
        let next = writer.write(.byteBuffer(buffer))
        state.withLock { $0.pending = next }
    }

    /// Ends the body after the last buffer is through.
    func finish() throws {
        let previous = state.withLock { $0.pending }
        try settle(previous)
        done.succeed(())
    }

    /// Abandons the body: the request fails and the connection is closed.
    func cancel() {
        stop("the upload was cancelled")
        done.fail(TransportError(description: "the upload was cancelled"))
    }

    /// Called from the response side: the request ended (failed, or answered) before the body did.
    func stop(_ reason: String) {
        state.withLock { if $0.stopped == nil { $0.stopped = reason } }
    }

    private func settle(_ future: EventLoopFuture<Void>?) throws {
        guard let future else { return }
        do {
            try future.wait()
        } catch {
            throw TransportError(description: ResponseBody.describe(error))
        }
    }
}
