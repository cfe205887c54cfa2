import ArcaCore
import Foundation
import Synchronization

/// A tiny HTTP/1.1 server on 127.0.0.1 (ephemeral port) for the PCCS tests. It answers GETs from
/// a route table keyed by path and query, one request per connection (`Connection: close`), and
/// writes raw bytes, so a test can send any status, a missing header, or a body cut short of its
/// declared length. Plain sockets on one thread: no server stack between the test and the bytes.
final class FakePCCS: Sendable {
    struct Response: Sendable {
        var status = 200
        var headers: [(String, String)] = []
        var body: [UInt8] = []
        /// Content-Length to declare; more than `body.count` makes a truncated answer.
        var declaredLength: Int?
    }

    let port: Int
    private let listener: Int32
    private let routes: Mutex<[String: Response]>
    private let log = Mutex<[String]>([])

    init(routes: [String: Response]) throws {
        self.routes = Mutex(routes)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ArcaError(.io, "socket failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, listen(fd, 16) == 0 else { close(fd); throw ArcaError(.io, "bind/listen failed: errno \(errno)") }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        self.listener = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in self.serve() }
        thread.start()
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Every request target served so far, in order.
    var requests: [String] { log.withLock { $0 } }

    func set(_ target: String, _ response: Response) { routes.withLock { $0[target] = response } }

    /// Stops accepting: the accept loop wakes up on shutdown, exits and closes the socket itself
    /// (closing it here could let the loop accept on a reused descriptor number).
    func stop() { shutdown(listener, Int32(SHUT_RDWR)) }

    private func serve() {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                close(listener)
                return
            }
            handle(connection)
            close(connection)
        }
    }

    private func handle(_ connection: Int32) {
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while request.count < 65536, !request.ends(with: Array("\r\n\r\n".utf8)) {
            let n = buffer.withUnsafeMutableBytes { read(connection, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            request += buffer[0..<n]
        }
        let line = String(decoding: request.prefix { $0 != 0x0D }, as: UTF8.self).split(separator: " ")
        let target = line.count >= 2 ? String(line[1]) : ""
        log.withLock { $0.append(target) }
        let response = routes.withLock { $0[target] } ?? Response(status: 404, body: Array("no route".utf8))
        var head = "HTTP/1.1 \(response.status) \(response.status == 200 ? "OK" : "Error")\r\n"
        head += "Content-Length: \(response.declaredLength ?? response.body.count)\r\nConnection: close\r\n"
        for (name, value) in response.headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        let bytes = Array(head.utf8) + response.body
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            offset += n
        }
    }

    /// URL-encodes a header value as Intel does (`%XX` for everything but unreserved characters).
    static func urlEncode(_ bytes: [UInt8]) -> String {
        var out = ""
        for byte in bytes {
            let c = Character(Unicode.Scalar(byte))
            if c.isASCII && (c.isLetter || c.isNumber || "-_.~".contains(c)) { out.append(c) } else { out += String(format: "%%%02X", byte) }
        }
        return out
    }
}

extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
