import ArcaCore
import COpenSSL

/// A TLS 1.3 client session over a `TCPConnection`, through OpenSSL memory BIOs: OpenSSL never
/// touches the socket, so every byte moves under our deadline and `MSG_NOSIGNAL`. No CA or
/// host-name validation happens here; the caller checks the server key against the pin
/// (`peerPublicKeyInfo`) after the handshake and before it sends a single request byte.
final class TLSSession: ByteSource {
    private let ssl: OpaquePointer
    /// Owned by `ssl` (freed with it): network bytes in, and bytes for the network out.
    private let networkIn: OpaquePointer
    private let networkOut: OpaquePointer
    private let connection: TCPConnection
    /// The deadline of the current request (a kept-alive connection gets a new one per request).
    var deadline: Deadline
    private var peerClosed = false
    private var scratch = [UInt8](repeating: 0, count: 16 * 1024)

    init(connection: TCPConnection, deadline: Deadline) throws {
        self.connection = connection
        self.deadline = deadline
        guard let context = Self.sharedContext.pointer else {
            throw Self.failure("setup (creating a tls 1.3 client context)", address: connection.address)
        }
        guard let ssl = SSL_new(context) else {
            throw Self.failure("setup (creating a session)", address: connection.address)
        }
        guard let networkIn = BIO_new(BIO_s_mem()), let networkOut = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw Self.failure("setup (creating buffers)", address: connection.address)
        }
        SSL_set_bio(ssl, networkIn, networkOut)
        self.ssl = ssl
        self.networkIn = networkIn
        self.networkOut = networkOut
        if connection.address.isDNSName {
            guard arca_ssl_set_sni(ssl, connection.address.host) == 1 else {
                throw Self.failure("setup (setting the server name)", address: connection.address)
            }
        }
    }

    deinit {
        SSL_free(ssl)
    }

    /// One client context per process: OpenSSL 3 makes `SSL_CTX_new` costly (provider and
    /// algorithm lookups, about as much CPU as the handshake's own ECDH), and a configured context
    /// is safe to share between threads. It holds no per-connection state: no CA store, no client
    /// session cache (the default cache mode is server-only). nil if OpenSSL cannot set it up.
    private static let sharedContext: SharedContext = SharedContext.make()

    private struct SharedContext: @unchecked Sendable {   // immutable once made, as OpenSSL requires
        let pointer: OpaquePointer?

        static func make() -> SharedContext {
            guard arca_openssl_init_without_config() == 1, let context = SSL_CTX_new(TLS_client_method()) else {
                return SharedContext(pointer: nil)
            }
            guard arca_ssl_ctx_tls13_only(context) == 1 else {
                SSL_CTX_free(context)
                return SharedContext(pointer: nil)
            }
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)   // the pin replaces CA validation
            // AES-128-GCM-SHA256 first (OpenSSL offers AES-256-GCM-SHA384 first, and the keeper
            // follows the client's order): its HKDF and transcript hash run on SHA-256, which these
            // CPUs do in hardware, while the keeper's BoringSSL computes SHA-384 in software.
            // Both are TLS 1.3's standard suites; the other two stay offered.
            guard SSL_CTX_set_ciphersuites(context, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") == 1 else {
                SSL_CTX_free(context)
                return SharedContext(pointer: nil)
            }
            return SharedContext(pointer: context)
        }
    }

    /// Runs the TLS 1.3 handshake. The client's last flight (its Finished) stays buffered and
    /// leaves with the first request (`write`): one send and one keeper read instead of two each.
    /// If the connection is dropped instead (a pin mismatch), it never leaves.
    func handshake() throws {
        do {
            _ = try drive(closing: "the tls handshake", flushOnSuccess: false) { SSL_connect(ssl) }
        } catch let error as ArcaError where error.code != .tlsFailure {
            throw ArcaError(.tlsFailure, "tls handshake with the keeper at \(connection.address) failed: \(error.message)")
        }
    }

    /// The DER SubjectPublicKeyInfo of the server's certificate, as OpenSSL encodes it.
    func peerPublicKeyInfo() throws -> [UInt8] {
        guard let certificate = SSL_get1_peer_certificate(ssl) else {
            throw ArcaError(.tlsFailure, "the keeper at \(connection.address) presented no certificate")
        }
        defer { X509_free(certificate) }
        return try Self.publicKeyInfo(ofCertificate: certificate)
    }

    /// The DER SubjectPublicKeyInfo of an OpenSSL certificate.
    static func publicKeyInfo(ofCertificate certificate: OpaquePointer) throws -> [UInt8] {
        guard let key = X509_get_X509_PUBKEY(certificate) else {
            throw ArcaError(.invalidFormat, "certificate has no public key")
        }
        let length = i2d_X509_PUBKEY(key, nil)
        guard length > 0, length <= 64 * 1024 else {
            throw ArcaError(.invalidFormat, "certificate public key does not encode (\(length) bytes)")
        }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        let written = bytes.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return i2d_X509_PUBKEY(key, &cursor)
        }
        guard written == length else {
            throw ArcaError(.invalidFormat, "certificate public key encodes to \(written) bytes, expected \(length)")
        }
        return bytes
    }

    /// Encrypts and sends all of `bytes`.
    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let count = Int32(min(bytes.count - offset, 1 << 20))
            let written = try bytes.withUnsafeBytes { buffer in
                try drive(closing: "the request") { SSL_write(ssl, buffer.baseAddress! + offset, count) }
            }
            offset += Int(written)
        }
    }

    /// Decrypted bytes; 0 at the end of the stream (close_notify, or the peer closing the socket:
    /// the HTTP layer knows how many bytes it expects and reports a truncation itself).
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        let count = Int32(min(buffer.count, Int(Int32.max)))
        return Int(try drive(closing: nil) { SSL_read(ssl, buffer.baseAddress, count) })
    }

    /// Repeats `operation` (an SSL call returning > 0 on success), moving bytes between the
    /// memory BIOs and the socket as OpenSSL asks. `closing` names what a peer close interrupts;
    /// nil means a close ends the stream (returns 0).
    private func drive(closing: String?, flushOnSuccess: Bool = true, _ operation: () -> Int32) throws -> Int32 {
        while true {
            ERR_clear_error()
            let result = operation()
            let status = SSL_get_error(ssl, result)
            if result > 0 {
                if flushOnSuccess { try flush() }
                return result
            }
            try flush()
            switch status {
            case SSL_ERROR_WANT_READ:
                if peerClosed { return try closed(closing) }
                try fill()
            case SSL_ERROR_WANT_WRITE:
                continue
            case SSL_ERROR_ZERO_RETURN:
                return try closed(closing)
            default:
                // A close without close_notify: OpenSSL 3 reports "unexpected eof" (or SYSCALL with
                // an empty queue). Reading, that is the end of the stream; HTTP framing judges it.
                if peerClosed && (status == SSL_ERROR_SYSCALL
                                  || ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
                    return try closed(closing)
                }
                throw Self.failure(closing ?? "the response", address: connection.address)
            }
        }
    }

    private func closed(_ closing: String?) throws -> Int32 {
        guard let closing else { return 0 }
        throw ArcaError(.tlsFailure, "the keeper at \(connection.address) closed the connection during \(closing)")
    }

    /// Moves what OpenSSL produced to the socket.
    private func flush() throws {
        while BIO_ctrl_pending(networkOut) > 0 {
            let count = scratch.withUnsafeMutableBytes { BIO_read(networkOut, $0.baseAddress, Int32($0.count)) }
            guard count > 0 else { return }
            try scratch.withUnsafeBytes { try connection.send(UnsafeRawBufferPointer(rebasing: $0[0..<Int(count)]), deadline: deadline) }
        }
    }

    /// Moves bytes from the socket into OpenSSL; at the peer's close, marks the end of input.
    private func fill() throws {
        let count = try scratch.withUnsafeMutableBytes { try connection.receive(into: $0, deadline: deadline) }
        guard count > 0 else {
            peerClosed = true
            arca_bio_set_mem_eof_return(networkIn, 0)
            return
        }
        let stored = scratch.withUnsafeBytes { BIO_write(networkIn, $0.baseAddress, Int32(count)) }
        guard stored == Int32(count) else {
            throw ArcaError(.tlsFailure, "cannot buffer \(count) bytes from the keeper at \(connection.address)")
        }
    }

    /// A `tlsFailure` naming OpenSSL's queued errors (library reasons, no key material).
    static func failure(_ what: String, address: KeeperAddress) -> ArcaError {
        var reasons: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            if reasons.count < 3 {
                var buffer = [CChar](repeating: 0, count: 256)
                ERR_error_string_n(code, &buffer, buffer.count)
                reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
        }
        let detail = reasons.isEmpty ? "" : ": " + reasons.joined(separator: "; ")
        return ArcaError(.tlsFailure, "tls with the keeper at \(address) failed during \(what)\(detail)")
    }
}
