import ArcaCore

/// One HTTP/1.1 response as the keeper link accepts it.
struct HTTPResponse: Sendable, Equatable {
    var status: Int
    /// Header names in lowercase, in order of arrival.
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    /// HTTP/1.1 (persistent by default) rather than HTTP/1.0.
    var isHTTP11 = true

    /// Whether the server keeps the connection open after this response (RFC 9112 section 9.3).
    var keepsConnectionOpen: Bool {
        let options = headers.filter { $0.name == "connection" }
            .flatMap { $0.value.lowercased().split(separator: ",").map { $0.filter { $0 != " " && $0 != "\t" } } }
        if options.contains("close") { return false }
        return isHTTP11 || options.contains("keep-alive")
    }

    static func == (a: HTTPResponse, b: HTTPResponse) -> Bool {
        a.status == b.status && a.body == b.body && a.headers.elementsEqual(b.headers) { $0 == $1 }
    }
}

/// A strict, bounded HTTP/1.1 response parser over any `ByteSource` (the TLS session, or memory
/// in tests). The server is not trusted: every length is checked before it is used, the header
/// section and the body have limits, and a response that ends early is an error, not a short body.
struct HTTPResponseReader {
    /// Limits on what the server may send.
    struct Limits: Sendable {
        var maximumBodySize: Int
        var maximumLineLength = 8 * 1024
        var maximumHeaderBytes = 64 * 1024
        var maximumHeaderCount = 100
        var maximumInterimResponses = 8
    }

    private let input: BufferedInput
    private let limits: Limits
    private let peer: String
    private var headerBytes = 0

    init(source: any ByteSource, limits: Limits, peer: String) {
        self.input = BufferedInput(source)
        self.limits = limits
        self.peer = peer
    }

    /// Reads one final response (skipping up to `maximumInterimResponses` 1xx responses).
    mutating func read(expectBody: Bool = true) throws -> HTTPResponse {
        for _ in 0...limits.maximumInterimResponses {
            let (status, isHTTP11) = try readStatusLine()
            let headers = try readHeaders()
            if (100..<200).contains(status) { continue }
            let hasBody = expectBody && status != 204 && status != 304
            let body = hasBody ? try readBody(headers) : []
            return HTTPResponse(status: status, headers: headers, body: body, isHTTP11: isHTTP11)
        }
        throw malformed("more than \(limits.maximumInterimResponses) interim (1xx) responses")
    }

    // MARK: status line and headers

    /// Bytes read from the source beyond the response: a server that sends more than it was asked
    /// for leaves the connection unusable for another request.
    var hasUnreadInput: Bool { input.hasBufferedBytes }

    /// `HTTP/1.x SP 3DIGIT [SP reason]`: the status and whether the version is 1.1.
    private mutating func readStatusLine() throws -> (Int, Bool) {
        let line = try readLine(what: "status line")
        let shown = printable(line, limit: 80)
        let prefix = Array("HTTP/1.".utf8)
        guard line.count >= 12, Array(line[0..<7]) == prefix, line[7] == UInt8(ascii: "0") || line[7] == UInt8(ascii: "1"),
              line[8] == UInt8(ascii: " "), line[9..<12].allSatisfy(Self.isDigit),
              line.count == 12 || line[12] == UInt8(ascii: " ") else {
            throw malformed("a garbled status line \"\(shown)\"")
        }
        let status = line[9..<12].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        guard status >= 100 else { throw malformed("status \(status) in \"\(shown)\"") }
        return (status, line[7] == UInt8(ascii: "1"))
    }

    private mutating func readHeaders() throws -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = []
        while true {
            let line = try readLine(what: "header line")
            if line.isEmpty { return headers }
            guard headers.count < limits.maximumHeaderCount else {
                throw limit("more than \(limits.maximumHeaderCount) header fields")
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0,
                  line[..<colon].allSatisfy(Self.isTokenCharacter) else {
                throw malformed("a garbled header line \"\(printable(line, limit: 80))\"")
            }
            let value = line[(colon + 1)...].drop { $0 == 0x20 || $0 == 0x09 }
            guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7f) }) else {
                throw malformed("control characters in header \(printable(line[..<colon], limit: 80))")
            }
            var text = String(decoding: value, as: UTF8.self)
            while text.last == " " || text.last == "\t" { text.removeLast() }
            headers.append((String(decoding: line[..<colon], as: UTF8.self).lowercased(), text))
        }
    }

    /// A line ending in CRLF (a bare LF is accepted, as RFC 9112 allows), without its ending.
    private mutating func readLine(what: String) throws -> [UInt8] {
        let maximum = min(limits.maximumLineLength, limits.maximumHeaderBytes - headerBytes)
        guard let line = try input.readLine(maximum: maximum) else {
            throw truncated("in the \(what)")
        }
        headerBytes += line.consumed
        guard let bytes = line.bytes else {
            throw headerBytes >= limits.maximumHeaderBytes || maximum < limits.maximumLineLength
                ? limit("a header section over \(limits.maximumHeaderBytes) bytes")
                : limit("a \(what) over \(limits.maximumLineLength) bytes")
        }
        return bytes
    }

    // MARK: body

    private mutating func readBody(_ headers: [(name: String, value: String)]) throws -> [UInt8] {
        let encodings = headers.filter { $0.name == "transfer-encoding" }.map { $0.value }
        let lengths = headers.filter { $0.name == "content-length" }.map { $0.value }
        if !encodings.isEmpty {
            guard lengths.isEmpty else {
                throw malformed("both transfer-encoding and content-length (ambiguous framing)")
            }
            let codings = encodings.flatMap { $0.split(separator: ",") }
                .map { $0.trimmingSpaces().lowercased() }
            guard codings == ["chunked"] else {
                throw ArcaError(.unsupported, "the keeper at \(peer) answered with transfer-encoding \(printable(encodings.joined(separator: ", ").utf8, limit: 80)); only chunked is supported")
            }
            return try readChunkedBody()
        }
        guard let first = lengths.first else {
            throw malformed("neither content-length nor chunked transfer-encoding")
        }
        let length = try parseContentLength(first)
        for other in lengths.dropFirst() {
            guard try parseContentLength(other) == length else { throw malformed("conflicting content-length values \(printable(lengths.joined(separator: ", ").utf8, limit: 80))") }
        }
        guard length <= limits.maximumBodySize else {
            throw limit("a body of \(length) bytes, over the \(formatBytes(limits.maximumBodySize)) limit")
        }
        guard let body = try input.readExactly(length) else {
            throw truncated("in the body (content-length \(length))")
        }
        return body
    }

    /// A decimal Content-Length: digits only, at most 18 of them (no overflow).
    private func parseContentLength(_ text: String) throws -> Int {
        let digits = Array(text.utf8)
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy(Self.isDigit) else {
            throw malformed("content-length \"\(printable(digits, limit: 40))\"")
        }
        return digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
    }

    private mutating func readChunkedBody() throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            guard let line = try input.readLine(maximum: limits.maximumLineLength) else {
                throw truncated("in a chunk size line")
            }
            guard let text = line.bytes else { throw limit("a chunk size line over \(limits.maximumLineLength) bytes") }
            // Chunk extensions (after ';') are ignored.
            let sizeText = text.prefix { $0 != UInt8(ascii: ";") }.filter { $0 != 0x20 && $0 != 0x09 }
            guard !sizeText.isEmpty, sizeText.count <= 15, sizeText.allSatisfy(Self.isHexDigit), let size = Int(String(decoding: sizeText, as: UTF8.self), radix: 16),
                  size >= 0 else {
                throw malformed("a chunk size \"\(printable(text, limit: 40))\"")
            }
            if size == 0 { break }
            guard size <= limits.maximumBodySize - body.count else {
                throw limit("a chunked body over the \(formatBytes(limits.maximumBodySize)) limit")
            }
            guard let chunk = try input.readExactly(size) else { throw truncated("in a chunk of \(size) bytes") }
            body += chunk
            guard let end = try input.readLine(maximum: 2) else { throw truncated("after a chunk") }
            guard end.bytes == [] else { throw malformed("a chunk not followed by crlf") }
        }
        // Trailer fields, up to the empty line; they carry nothing the keeper link uses.
        headerBytes = 0
        while true {
            let line = try readLine(what: "trailer line")
            if line.isEmpty { return body }
        }
    }

    // MARK: errors

    private func malformed(_ what: String) -> ArcaError {
        ArcaError(.invalidFormat, "the keeper at \(peer) sent a malformed http response: \(what)")
    }

    private func limit(_ what: String) -> ArcaError {
        ArcaError(.limitExceeded, "the keeper at \(peer) sent an oversized http response: \(what)")
    }

    private func truncated(_ what: String) -> ArcaError {
        ArcaError(.invalidFormat, "the keeper at \(peer) closed the connection early: the http response is truncated \(what)")
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
    }

    /// RFC 9110 `tchar`.
    private static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5a, 0x61...0x7a: return true
        default: return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }
}

/// A read buffer over a `ByteSource` for line- and length-framed input.
final class BufferedInput {
    private let source: any ByteSource
    private var buffer: [UInt8] = []
    private var start = 0
    private var ended = false

    init(_ source: any ByteSource) { self.source = source }

    /// Whether bytes were read from the source that no caller consumed yet.
    var hasBufferedBytes: Bool { start < buffer.count }

    /// The next line without its CRLF/LF, and how many bytes it consumed. `bytes` is nil when no
    /// line end comes within `maximum` bytes (plus its CRLF); the result is nil at the end of input.
    func readLine(maximum: Int) throws -> (bytes: [UInt8]?, consumed: Int)? {
        var searched = 0   // bytes after `start` already known to hold no LF (`fill` may move `start`)
        while true {
            if let newline = buffer[(start + searched)...].firstIndex(of: 0x0a) {
                var end = newline
                if end > start && buffer[end - 1] == 0x0d { end -= 1 }
                guard end - start <= maximum else { return (nil, end - start) }
                let line = Array(buffer[start..<end])
                let consumed = newline + 1 - start
                start = newline + 1
                return (line, consumed)
            }
            searched = buffer.count - start
            if searched > maximum + 1 { return (nil, searched) }
            guard try fill() else { return nil }
        }
    }

    /// Exactly `count` bytes, or nil when the input ends first.
    func readExactly(_ count: Int) throws -> [UInt8]? {
        while buffer.count - start < count {
            guard try fill() else { return nil }
        }
        let bytes = Array(buffer[start..<(start + count)])
        start += count
        return bytes
    }

    /// Reads more input; false at the end.
    private func fill() throws -> Bool {
        if ended { return false }
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 64 * 1024 {
            buffer.removeFirst(start)
            start = 0
        }
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        let count = try chunk.withUnsafeMutableBytes { try source.read(into: $0) }
        if count == 0 {
            ended = true
            return false
        }
        buffer += chunk[0..<count]
        return true
    }
}

private extension Substring {
    func trimmingSpaces() -> String {
        var slice = self
        while slice.first == " " || slice.first == "\t" { slice = slice.dropFirst() }
        while slice.last == " " || slice.last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
