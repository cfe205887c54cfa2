import ArcaCore
import ArcaKeeperAPI
@testable import ArcaKeeperLink
import COpenSSL
import Crypto
import Foundation
import Testing

/// The client against a TLS server that holds the pinned key but answers badly.
@Suite struct HostileServerTests {
    private func send(to server: TinyTLSServer, options: KeeperLinkOptions = KeeperLinkOptions()) async throws -> (status: Int, body: [UInt8]) {
        let client = try KeeperHTTPSClient(address: KeeperAddress(url: server.url), pin: server.identity.pin, options: options)
        return try await offThread { try client.send(method: "POST", path: "/v1/nonce", body: Array("{}".utf8)) }
    }

    private func respond(_ text: String) throws -> TinyTLSServer {
        try TinyTLSServer(behaviour: .respond(Array(text.utf8)))
    }

    @Test func acceptsAContentLengthResponseAndSendsAWellFormedRequest() async throws {
        let server = try respond("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        let (status, body) = try await send(to: server)
        #expect(status == 200 && body == Array("hello".utf8))
        let request = String(decoding: server.received(), as: UTF8.self)
        #expect(request.hasPrefix("POST /v1/nonce HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\n"))
        #expect(request.contains("\r\nContent-Length: 2\r\n"))
        #expect(request.hasSuffix("\r\n\r\n{}"))
    }

    @Test func acceptsAChunkedResponse() async throws {
        let server = try respond("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: 1\r\n\r\n")
        let (_, body) = try await send(to: server)
        #expect(body == Array("hello!".utf8))
    }

    @Test func truncatedBodyIsAnError() async throws {
        let server = try respond("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
        let error = try await expectArcaError(.invalidFormat) { _ = try await send(to: server) }
        #expect(error.message.contains("truncated"))
    }

    @Test func truncatedChunkedBodyIsAnError() async throws {
        let server = try respond("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort")
        let error = try await expectArcaError(.invalidFormat) { _ = try await send(to: server) }
        #expect(error.message.contains("truncated"))
    }

    @Test func oversizedContentLengthIsRefusedBeforeReading() async throws {
        let server = try respond("HTTP/1.1 200 OK\r\nContent-Length: 10737418240\r\n\r\nx")
        let error = try await expectArcaError(.limitExceeded) { _ = try await send(to: server) }
        #expect(error.message.contains("10737418240"))
        #expect(error.message.contains("4 MiB"))
    }

    @Test func overflowingContentLengthIsAnError() async throws {
        let server = try respond("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nx")
        _ = try await expectArcaError(.invalidFormat) { _ = try await send(to: server) }
    }

    @Test func garbageStatusLineIsAnError() async throws {
        let server = try respond("SSH-2.0-OpenSSH_9.2\r\n\r\n")
        let error = try await expectArcaError(.invalidFormat) { _ = try await send(to: server) }
        #expect(error.message.contains("status line"))
        #expect(error.message.contains("SSH-2.0"))
    }

    @Test func controlCharactersFromTheServerNeverReachTheMessage() async throws {
        let server = try respond("HTTP/1.1 20\u{1b}[2J0 OK\r\n\r\n")
        let error = try await expectArcaError(.invalidFormat) { _ = try await send(to: server) }
        #expect(!error.message.contains("\u{1b}"))
    }

    @Test func nonJSONErrorBodyBecomesAnHTTPReason() async throws {
        let server = try respond("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 11\r\n\r\nbad gateway")
        let client = try KeeperHTTPSClient(address: KeeperAddress(url: server.url), pin: server.identity.pin)
        let error = try await expectArcaError(.keeperRefused) {
            _ = try await offThread { try client.post("/v1/nonce", NonceRequest(session: "a/b", service: "web"), as: NonceResponse.self) }
        }
        #expect(error.keeperRefusal == KeeperRefusal(status: 502, reason: "http-502", message: "bad gateway"))
    }

    @Test func unexpectedJSONIsAnError() async throws {
        let server = try respond("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]")
        let client = try KeeperHTTPSClient(address: KeeperAddress(url: server.url), pin: server.identity.pin)
        _ = try await expectArcaError(.invalidFormat) {
            _ = try await offThread { try client.post("/v1/nonce", NonceRequest(session: "a/b", service: "web"), as: NonceResponse.self) }
        }
    }

    @Test func serverClosingWithoutAnswerIsAnError() async throws {
        let server = try respond("")
        let error = try await expectArcaError(.invalidFormat) { _ = try await send(to: server) }
        #expect(error.message.contains("truncated"))
    }

    @Test func wrongKeyIsRefusedBeforeAnyRequestByte() async throws {
        let server = try respond("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        let expected = try TLSIdentity.generate(commonName: "the real keeper").pin
        let client = try KeeperHTTPSClient(address: KeeperAddress(url: server.url), pin: expected)
        let error = try await expectArcaError(.pinMismatch) {
            _ = try await offThread { try client.send(method: "POST", path: "/v1/nonce", body: Array("{}".utf8)) }
        }
        #expect(error.message.contains("sha256:\(expected)"))
        #expect(error.message.contains("sha256:\(server.identity.pin)"))
        #expect(server.received().isEmpty)
    }

    @Test func serverWithoutTLS13IsATLSFailure() async throws {
        let server = try TinyTLSServer(tls12Only: true, behaviour: .respond(Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)))
        let error = try await expectArcaError(.tlsFailure) { _ = try await send(to: server) }
        #expect(error.message.contains("127.0.0.1:\(server.port)"))
        #expect(server.received().isEmpty)
    }

    @Test func stalledServerTimesOut() async throws {
        let server = try TinyTLSServer(behaviour: .stall(seconds: 1.5))
        let error = try await expectArcaError(.tlsFailure) {
            _ = try await send(to: server, options: KeeperLinkOptions(ioTimeout: 0.3, requestTimeout: 5))
        }
        #expect(error.message.contains("timed out"))
        _ = server.received()
    }

    @Test func requestBodyOverTheLimitIsRefused() async throws {
        let client = try KeeperHTTPSClient(address: KeeperAddress(url: "https://127.0.0.1:1"), pin: String(repeating: "ab", count: 32),
                                           options: KeeperLinkOptions(maximumBodySize: 10))
        _ = try await expectArcaError(.limitExceeded) {
            _ = try await offThread { try client.send(method: "POST", path: "/v1/nonce", body: Array(repeating: 0x20, count: 11)) }
        }
    }
}

/// The OpenSSL SPKI encoding hashes to `TLSIdentity.pin` for fresh identities (P-256, as the keeper makes).
@Suite struct PinComputationTests {
    @Test func opensslPublicKeyInfoMatchesTLSIdentityPin() throws {
        for _ in 0..<4 {
            let identity = try TLSIdentity.generate(commonName: "arca-keeper")
            let certificate = try TinyTLSServer.withBIO(identity.certificatePEM) { PEM_read_bio_X509($0, nil, nil, nil) }
            defer { X509_free(certificate) }
            let spki = try TLSSession.publicKeyInfo(ofCertificate: certificate)
            #expect(sha256Hex(spki) == identity.pin)
        }
    }
}
