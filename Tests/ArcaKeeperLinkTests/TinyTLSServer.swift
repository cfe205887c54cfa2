import ArcaCore
import ArcaKeeperAPI
import COpenSSL
import Foundation
import Synchronization

/// Hands the SSL_CTX to the server thread, which alone uses and frees it.
private struct ContextBox: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// A one-connection TLS 1.3 server for hostile-response tests: it accepts one client, reads the
/// request head (and a Content-Length body), answers with canned bytes and closes. It records
/// every application byte it received. `stall` accepts the TCP connection and says nothing.
final class TinyTLSServer: Sendable {
    enum Behaviour: Sendable {
        case respond([UInt8])
        case stall(seconds: Double)
    }

    let identity: TLSIdentity
    let port: Int
    private let listener: Int32
    private let state = Mutex<(received: [UInt8], done: Bool)>(([], false))

    init(identity: TLSIdentity? = nil, tls12Only: Bool = false, behaviour: Behaviour) throws {
        signal(SIGPIPE, SIG_IGN)   // the test server may write to a client that already left
        self.identity = try identity ?? TLSIdentity.generate(commonName: "arca-keeper")
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ArcaError(.io, "socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard ok else {
            close(fd)
            throw ArcaError(.io, "bind/listen failed")
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let context = ContextBox(pointer: try Self.makeContext(self.identity, tls12Only: tls12Only))
        Thread { [self] in
            self.serve(context: context.pointer, behaviour: behaviour)
            SSL_CTX_free(context.pointer)
        }.start()
    }

    var url: String { "https://127.0.0.1:\(port)" }

    /// Waits (up to 10 s) for the connection to end; returns what the client sent.
    func received() -> [UInt8] {
        for _ in 0..<1000 {
            if let bytes = state.withLock({ $0.done ? $0.received : nil }) { return bytes }
            usleep(10_000)
        }
        return state.withLock { $0.received }
    }

    private func serve(context: OpaquePointer, behaviour: Behaviour) {
        defer {
            close(listener)
            state.withLock { $0.done = true }
        }
        var entry = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, 10_000) == 1 else { return }
        let client = accept(listener, nil, nil)
        guard client >= 0 else { return }
        defer { close(client) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if case .stall(let seconds) = behaviour {
            usleep(UInt32(seconds * 1_000_000))
            return
        }
        guard let ssl = SSL_new(context) else { return }
        defer { SSL_free(ssl) }
        SSL_set_fd(ssl, client)
        guard SSL_accept(ssl) == 1 else { return }
        // Read the request head and its body (the client sends Content-Length).
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while !Self.complete(request) {
            let count = buffer.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
            guard count > 0 else { break }
            request += buffer[0..<Int(count)]
            state.withLock { $0.received = request }
        }
        guard case .respond(let response) = behaviour, Self.complete(request) else { return }
        _ = response.withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
        SSL_shutdown(ssl)
    }

    private static func complete(_ request: [UInt8]) -> Bool {
        let text = String(decoding: request, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return false }
        let head = text[..<end.lowerBound].lowercased()
        let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) } ?? 0
        return text.utf8.count - text[..<end.upperBound].utf8.count >= length
    }

    private static func makeContext(_ identity: TLSIdentity, tls12Only: Bool) throws -> OpaquePointer {
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw ArcaError(.io, "SSL_CTX_new failed") }
        let certificate = try withBIO(identity.certificatePEM) { PEM_read_bio_X509($0, nil, nil, nil) }
        defer { X509_free(certificate) }
        let key = try withBIO(identity.privateKeyPEM) { PEM_read_bio_PrivateKey($0, nil, nil, nil) }
        defer { EVP_PKEY_free(key) }
        guard tls12Only ? SSL_CTX_ctrl(context, SSL_CTRL_SET_MAX_PROTO_VERSION, Int(TLS1_2_VERSION), nil) == 1 : arca_ssl_ctx_tls13_only(context) == 1,
              SSL_CTX_use_certificate(context, certificate) == 1,
              SSL_CTX_use_PrivateKey(context, key) == 1 else {
            SSL_CTX_free(context)
            throw ArcaError(.io, "cannot configure the test server's tls context")
        }
        return context
    }

    /// Parses PEM text with an OpenSSL reader.
    static func withBIO(_ pem: String, _ read: (OpaquePointer) -> OpaquePointer?) throws -> OpaquePointer {
        let bytes = Array(pem.utf8)
        let result: OpaquePointer? = bytes.withUnsafeBytes { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            return read(bio)
        }
        guard let result else { throw ArcaError(.invalidFormat, "openssl cannot read the pem") }
        return result
    }
}
