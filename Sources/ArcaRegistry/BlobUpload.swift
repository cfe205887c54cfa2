import ArcaCore
import ArcaOCI
import NIOCore
import NIOHTTP1

/// A blob upload session as a `ByteSink`. A blob that fits in one chunk (`chunkSize`) goes up
/// monolithically (`POST`, then one `PUT ?digest=` with the body). A larger one goes up either as
/// one streamed `PATCH` (`streamUploads`, the default: 1 MiB buffers, one on the wire while the
/// next fills) or in chunks of `chunkSize` (`PATCH` with `Content-Range`, at least the registry's
/// `OCI-Chunk-Min-Length`, one chunk on the wire while the next fills, each retried on failure),
/// then an empty `PUT ?digest=`. Nothing is visible in the registry until `complete` sends the
/// final `PUT`; `abort` cancels the session.
final class BlobUpload: ByteSink {
    private let client: RegistryClient
    private var chunkSize: Int
    private var buffer: ByteBuffer
    /// Hashes what is sent, unless the source proves the digest itself (`known`).
    private let hasher = HashingSink()
    private let known: Descriptor?
    private var sent: Int64 = 0
    /// The upload URL the registry gave for the next request.
    private var location: String?
    /// Bytes the registry has accepted or that are on the wire.
    private var offset: Int64 = 0
    private var inFlight: (pending: PendingResponse, request: HTTPRequest)?
    /// The streamed PATCH, once the blob turned out larger than one chunk (`streamUploads`).
    private var streaming: (pending: PendingResponse, body: StreamedBody)?
    private var done = false
    /// How many PATCH requests were sent (for tests and progress).
    private(set) var patches = 0

    static let maxChunkMinimum = 256 << 20

    /// `known`: the descriptor a `SelfVerifyingSource` proves, so the bytes are not hashed again
    /// here (that source throws before its end when they differ, and the registry checks the
    /// final `PUT ?digest=` too). nil: the bytes are hashed and the digest learned at the end.
    init(client: RegistryClient, known: Descriptor? = nil) {
        self.client = client
        self.known = known
        self.chunkSize = client.options.chunkSize
        self.buffer = ByteBufferAllocator().buffer(capacity: 0)
    }

    deinit { abort() }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !bytes.isEmpty else { return }
        if known == nil { try hasher.write(bytes) }
        sent += Int64(bytes.count)
        if let streaming {
            if buffer.capacity == 0 { buffer.reserveCapacity(Self.streamBuffer + streamChunkSize) }
            buffer.writeBytes(bytes)
            if buffer.readableBytes >= Self.streamBuffer {
                let full = buffer
                buffer = ByteBufferAllocator().buffer(capacity: 0)
                try streamed { try streaming.body.write(full) }
            }
            return
        }
        if buffer.capacity == 0 {
            buffer.reserveCapacity(client.options.streamUploads && isKnownLarge ? streamChunkSize : min(chunkSize + streamChunkSize, 64 << 20))
        }
        buffer.writeBytes(bytes)
        if client.options.streamUploads && (buffer.readableBytes >= chunkSize || isKnownLarge) {
            try startStream()
        } else if buffer.readableBytes >= chunkSize {
            try flush()
        }
    }

    /// Nothing to do: the upload ends with `complete`.
    func finish() throws {}

    var count: Int64 { sent }

    /// Opens the upload session: `POST /v2/REPO/blobs/uploads/`.
    private func begin() throws {
        let response = try client.perform(.POST, client.path("blobs/uploads/"), headers: ["Content-Length": "0"])
        guard response.status.code == 202, let location = response.header("Location") else {
            throw client.failure(response, "the start of a blob upload")
        }
        if let minimum = response.header("OCI-Chunk-Min-Length").flatMap(Int.init), minimum > chunkSize {
            guard minimum <= Self.maxChunkMinimum else {
                _ = response.readErrorBody()
                throw ArcaError(.limitExceeded, "registry \(client.reference.registry) asks for upload chunks of at least \(formatBytes(minimum)), over the \(formatBytes(Self.maxChunkMinimum)) limit")
            }
            chunkSize = minimum
        }
        _ = response.readErrorBody()
        self.location = client.resolve(location, against: try client.baseURL())
    }

    /// A blob whose size is known to need a stream: it starts with the first bytes.
    private var isKnownLarge: Bool { (known?.size ?? 0) > Int64(chunkSize) }

    /// The size of the buffers a streamed upload hands to the connection.
    static let streamBuffer = 1 << 20

    /// Starts the streamed `PATCH` of the whole blob (its length when known, else chunked
    /// transfer encoding) and hands it what is buffered so far.
    private func startStream() throws {
        if location == nil { try begin() }
        // Not yet when a larger minimum was announced (the blob may now fit one monolithic PUT).
        guard buffer.readableBytes >= chunkSize || isKnownLarge, let location else { return }
        let body = client.transport.makeStreamedBody(length: known?.size)
        var request = try client.prepare(.PATCH, location, headers: ["Content-Type": "application/octet-stream"])
        request.stream = body
        streaming = (try client.transport.start(request), body)
        patches += 1
        let first = buffer
        buffer = ByteBufferAllocator().buffer(capacity: 0)
        try streamed { try body.write(first) }
    }

    /// Runs a step of the streamed upload; a connection failure becomes the registry's answer
    /// when there is one (for example 401 or 413 before the end), else an error naming the drop.
    private func streamed(_ step: () throws -> Void) throws {
        do {
            try step()
        } catch let error as TransportError {
            let pending = streaming?.pending
            streaming?.body.cancel()
            streaming = nil
            if let response = try? pending?.wait(), response.status.code != 202 {
                throw client.failure(response, "a streamed blob upload")
            }
            throw ArcaError(.io, "registry \(client.reference.registry) dropped the upload of a blob after \(formatBytes(count)) (\(error.description)); a streamed upload is not retried, run the push again")
        }
    }

    /// Ends the streamed `PATCH` and takes the registry's answer (no retry: the bytes are gone).
    private func endStream() throws {
        guard let (pending, body) = streaming else { return }
        let rest = buffer
        buffer = ByteBufferAllocator().buffer(capacity: 0)
        var answer: HTTPResponse?
        try streamed {
            if rest.readableBytes > 0 { try body.write(rest) }
            try body.finish()
            answer = try pending.wait()
        }
        guard let response = answer else { throw ArcaError(.io, "blob upload to \(client.reference) has no answer") }
        guard response.status.code == 202 else { throw client.failure(response, "a streamed blob upload") }
        _ = response.readErrorBody()
        if let next = response.header("Location"), let current = self.location { location = client.resolve(next, against: current) }
        offset = count
        streaming = nil
    }

    /// Sends the buffered bytes as the next chunk, once the previous one is through.
    private func flush() throws {
        if location == nil { try begin() }
        guard buffer.readableBytes >= chunkSize else { return }  // a larger minimum was announced
        try awaitInFlight()
        guard let location else { return }
        let chunk = buffer
        buffer = ByteBufferAllocator().buffer(capacity: 0)
        let end = offset + Int64(chunk.readableBytes) - 1
        let headers: HTTPHeaders = ["Content-Type": "application/octet-stream", "Content-Range": "\(offset)-\(end)",
                                    "Content-Length": "\(chunk.readableBytes)"]
        let request = try client.prepare(.PATCH, location, headers: headers, body: chunk)
        inFlight = (try client.transport.start(request), request)
        offset = end + 1
        patches += 1
    }

    /// Waits for the chunk on the wire; a failure (status, connection, expired token) is sent
    /// again through the client's retry and authentication path.
    private func awaitInFlight() throws {
        guard let (pending, request) = inFlight else { return }
        inFlight = nil
        let first = try? pending.wait()  // only a connection failure throws here; it is retried below
        let response: HTTPResponse
        if let first, first.status.code == 202 {
            response = first
        } else {
            _ = first?.readErrorBody()
            response = try client.perform(.PATCH, request.url, headers: request.headers, body: request.body)
        }
        guard response.status.code == 202 else { throw client.failure(response, "a chunk of a blob upload") }
        _ = response.readErrorBody()
        if let next = response.header("Location") { location = client.resolve(next, against: request.url) }
    }

    /// Sends what is left with the final `PUT ?digest=`; checks the digest against `expected`
    /// first (nothing is committed on a mismatch). Returns the blob's digest and size.
    func complete(expected: Descriptor?) throws -> (Digest, Int64) {
        let digest = known?.digest ?? Digest(sha256Hex: hasher.hexDigest())
        if let known, count != known.size {
            abort()
            throw ArcaError(.integrity, "blob \(known.digest.short)… read as \(count) bytes, not the \(known.size) bytes its descriptor promised; nothing was uploaded")
        }
        if let expected {
            guard digest == expected.digest, count == expected.size else {
                abort()
                throw ArcaError(.integrity, "blob \(expected.digest.short)… read as \(count) bytes with digest \(digest), not the \(expected.size) bytes its descriptor promised; nothing was uploaded")
            }
        }
        if location == nil { try begin() }
        do {
            try endStream()
        } catch {
            abort()
            throw error
        }
        try awaitInFlight()
        guard let location else { throw ArcaError(.io, "blob upload to \(client.reference) has no session") }
        var headers: HTTPHeaders = ["Content-Type": "application/octet-stream", "Content-Length": "\(buffer.readableBytes)"]
        if buffer.readableBytes > 0 && offset > 0 {
            headers.add(name: "Content-Range", value: "\(offset)-\(offset + Int64(buffer.readableBytes) - 1)")
        }
        let response = try client.perform(.PUT, RegistryClient.appending(location, "digest", digest.description),
                                          headers: headers, body: buffer)
        guard response.status.code == 201 else { throw client.failure(response, "the end of the upload of blob \(digest.short)…") }
        if let stored = response.header("Docker-Content-Digest"), stored != digest.description {
            throw ArcaError(.integrity, "registry \(client.reference.registry) stored blob \(digest.short)… as \(stored.prefix(80))")
        }
        _ = response.readErrorBody()
        done = true
        buffer = ByteBufferAllocator().buffer(capacity: 0)
        return (digest, count)
    }

    /// Cancels the session (best effort): the registry drops what it received.
    func abort() {
        guard !done else { return }
        done = true
        inFlight = nil
        streaming?.body.cancel()
        streaming = nil
        buffer = ByteBufferAllocator().buffer(capacity: 0)
        if let location, let request = try? client.prepare(.DELETE, location) {
            _ = (try? client.transport.send(request))?.readErrorBody()
        }
    }
}
