import Dispatch
import Foundation
import Synchronization

/// An HTTP/1.1 request as the test servers see it.
struct TestRequest: Sendable {
    var method: String
    var target: String
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    var path: String { String(target.prefix { $0 != "?" }) }
}

struct TestResponse: Sendable {
    var status: Int
    var reason: String
    var headers: [(String, String)] = []
    var body: [UInt8] = []
    /// A Content-Length to announce without a body (answers to HEAD).
    var announcedLength: Int?
}

/// A tiny blocking HTTP/1.1 server on 127.0.0.1 for the tests (token service, fault-injecting
/// proxy): one request per connection, each connection on its own queue, 30 s socket timeouts so
/// nothing can hang a test.
final class TestHTTPServer: @unchecked Sendable {  // `listener` is only closed once, by stop()
    let port: Int
    private let listener: Int32
    private let handler: @Sendable (TestRequest) -> TestResponse
    private let stopped = Atomic<Bool>(false)

    init(handler: @escaping @Sendable (TestRequest) -> TestResponse) throws {
        self.handler = handler
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        listener = fd
        DispatchQueue(label: "test-http-accept").async { [self] in acceptLoop() }
    }

    deinit { stop() }

    func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while !stopped.load(ordering: .relaxed) {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                return
            }
            DispatchQueue(label: "test-http-connection").async { [handler] in
                defer { close(connection) }
                Self.setTimeouts(connection)
                guard let request = Self.readRequest(connection) else { return }
                Self.writeResponse(handler(request), to: connection)
            }
        }
    }

    static func setTimeouts(_ fd: Int32) {
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    // MARK: - Wire format

    /// Reads until `\r\n\r\n`; returns the head and whatever body bytes came with it.
    static func readHead(_ fd: Int32) -> (lines: [String], rest: [UInt8])? {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            if let end = find([13, 10, 13, 10], in: data) {
                let head = String(decoding: data[..<end], as: UTF8.self)
                return (head.components(separatedBy: "\r\n"), Array(data[(end + 4)...]))
            }
            guard data.count < 1 << 20 else { return nil }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return nil }
            data += chunk[..<n]
        }
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = start
        while i + needle.count <= haystack.count {
            if haystack[i] == needle[0] && Array(haystack[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }

    static func parseHeaders(_ lines: ArraySlice<String>) -> [(String, String)] {
        lines.compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
    }

    static func readExactly(_ fd: Int32, _ count: Int, after prefix: [UInt8]) -> [UInt8]? {
        var data = prefix
        var chunk = [UInt8](repeating: 0, count: 256 << 10)
        while data.count < count {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, min($0.count, count - data.count), 0) }
            guard n > 0 else { return nil }
            data += chunk[..<n]
        }
        return Array(data.prefix(count))
    }

    static func readToEnd(_ fd: Int32, after prefix: [UInt8]) -> [UInt8] {
        var data = prefix
        var chunk = [UInt8](repeating: 0, count: 256 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return data }
            data += chunk[..<n]
        }
    }

    /// Decodes a chunked body that has been read completely.
    static func dechunk(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while let lineEnd = find([13, 10], in: data, from: i) {
            let sizeText = String(decoding: data[i..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size > 0 else { break }
            let start = lineEnd + 2
            guard start + size <= data.count else { break }
            out += data[start..<(start + size)]
            i = start + size + 2
        }
        return out
    }

    static func readRequest(_ fd: Int32) -> TestRequest? {
        guard let (lines, rest) = readHead(fd), let first = lines.first else { return nil }
        let parts = first.split(separator: " ")
        guard parts.count >= 2 else { return nil }
        let headers = parseHeaders(lines.dropFirst())
        var request = TestRequest(method: String(parts[0]), target: String(parts[1]), headers: headers, body: [])
        if let length = request.header("Content-Length").flatMap(Int.init) {
            guard let body = readExactly(fd, length, after: rest) else { return nil }
            request.body = body
        } else if request.header("Transfer-Encoding")?.lowercased() == "chunked" {
            var data = rest
            while find([48, 13, 10, 13, 10], in: data) == nil {  // "0\r\n\r\n"
                var chunk = [UInt8](repeating: 0, count: 64 << 10)
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { return nil }
                data += chunk[..<n]
            }
            request.body = dechunk(data)
        }
        return request
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return }
            offset += n
        }
    }

    /// Status 0 means: close the connection without answering (a reset as the client sees it).
    static func writeResponse(_ response: TestResponse, to fd: Int32) {
        guard response.status != 0 else { return }
        var head = "HTTP/1.1 \(response.status) \(response.reason)\r\n"
        for (name, value) in response.headers where !["content-length", "connection", "transfer-encoding"].contains(name.lowercased()) {
            head += "\(name): \(value)\r\n"
        }
        head += "Content-Length: \(response.announcedLength ?? response.body.count)\r\nConnection: close\r\n\r\n"
        writeAll(fd, Array(head.utf8) + response.body)
    }

    /// Sends `request` to 127.0.0.1:`port` (Host kept, so the registry builds URLs through the proxy)
    /// and reads the whole answer.
    static func forward(_ request: TestRequest, toPort port: Int) -> TestResponse {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        setTimeouts(fd)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return TestResponse(status: 502, reason: "Bad Gateway") }
        var head = "\(request.method) \(request.target) HTTP/1.1\r\n"
        for (name, value) in request.headers where !["content-length", "connection", "transfer-encoding"].contains(name.lowercased()) {
            head += "\(name): \(value)\r\n"
        }
        if !request.body.isEmpty || ["PUT", "POST", "PATCH"].contains(request.method) {
            head += "Content-Length: \(request.body.count)\r\n"
        }
        head += "Connection: close\r\n\r\n"
        writeAll(fd, Array(head.utf8) + request.body)
        guard let (lines, rest) = readHead(fd), let first = lines.first else {
            return TestResponse(status: 502, reason: "Bad Gateway")
        }
        let parts = first.split(separator: " ", maxSplits: 2)
        let headers = parseHeaders(lines.dropFirst())
        var response = TestResponse(status: parts.count > 1 ? Int(parts[1]) ?? 502 : 502,
                                    reason: parts.count > 2 ? String(parts[2]) : "", headers: headers)
        let length = headers.first { $0.0.lowercased() == "content-length" }.flatMap { Int($0.1) }
        if request.method == "HEAD" {
            response.announcedLength = length ?? 0
        } else if headers.contains(where: { $0.0.lowercased() == "transfer-encoding" }) {
            response.body = dechunk(readToEnd(fd, after: rest))
        } else if let length {
            response.body = readExactly(fd, length, after: rest) ?? []
        } else {
            response.body = readToEnd(fd, after: rest)
        }
        return response
    }
}
