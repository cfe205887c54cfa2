import ArcaCore
import ArcaKeeperAPI
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// Remembers whether the server presented a key other than the pinned one, so that however the
/// failed handshake surfaces (connect error, closed channel), the caller gets a pin error.
private final class PinOutcome: Sendable {
    let mismatch = Atomic<Bool>(false)
}

/// One HTTPS request per connection over TLS 1.3, the server recognised by its pin (SHA-256 of its
/// SubjectPublicKeyInfo) rather than a CA, optionally presenting a client identity.
struct HTTPSTransport: Sendable {
    let host: String
    let port: Int
    let pin: String
    let sslContext: NIOSSLContext
    static let maximumResponseSize = 16 * 1024 * 1024

    init(host: String, port: Int, pin: String, identity: TLSIdentity?) throws {
        self.host = host
        self.port = port
        self.pin = pin
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        tls.maximumTLSVersion = .tlsv13
        tls.certificateVerification = .noHostnameVerification
        if let identity {
            tls.certificateChain = [.certificate(try NIOSSLCertificate(bytes: Array(identity.certificatePEM.utf8), format: .pem))]
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.privateKeyPEM.utf8), format: .pem))
        }
        self.sslContext = try NIOSSLContext(configuration: tls)
    }

    func send(method: HTTPMethod, path: String, body: [UInt8]?) async throws -> (status: Int, body: [UInt8]) {
        let pin = self.pin
        let sslContext = self.sslContext
        let outcome = PinOutcome()
        do {
            return try await exchange(method: method, path: path, body: body, pin: pin, sslContext: sslContext, outcome: outcome)
        } catch {
            if outcome.mismatch.load(ordering: .relaxed) {
                throw ArcaError(.integrity, "the server at \(host):\(port) does not hold the key of --keeper-pin \(pin); refusing it")
            }
            throw error
        }
    }

    private func exchange(method: HTTPMethod, path: String, body: [UInt8]?, pin: String, sslContext: NIOSSLContext,
                          outcome: PinOutcome) async throws -> (status: Int, body: [UInt8]) {
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(10))
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handler = try NIOSSLClientHandler(context: sslContext, serverHostname: nil) { certificates, promise in
                            // The pin replaces CA validation: accept exactly the pinned key.
                            guard let leaf = certificates.first, let spki = try? leaf.extractPublicKey().toSPKIBytes(),
                                  sha256Hex(spki) == pin else {
                                outcome.mismatch.store(true, ordering: .relaxed)
                                promise.succeed(.failed)
                                return
                            }
                            promise.succeed(.certificateVerified)
                        }
                        try channel.pipeline.syncOperations.addHandler(handler)
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw ArcaError(.io, "cannot connect to the keeper at \(host):\(port)", cause: error)
        }
        do {
            return try await channel.executeThenClose { inbound, outbound in
                var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
                head.headers.add(name: "Host", value: "\(host):\(port)")
                head.headers.add(name: "Connection", value: "close")
                head.headers.add(name: "Accept", value: "application/json")
                if let body {
                    head.headers.add(name: "Content-Type", value: "application/json")
                    head.headers.add(name: "Content-Length", value: String(body.count))
                }
                try await outbound.write(.head(head))
                if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                try await outbound.write(.end(nil))
                var status = 0
                var received: [UInt8] = []
                for try await part in inbound {
                    switch part {
                    case .head(let response):
                        status = Int(response.status.code)
                    case .body(let buffer):
                        guard received.count + buffer.readableBytes <= Self.maximumResponseSize else {
                            throw ArcaError(.limitExceeded, "keeper response is over the \(Self.maximumResponseSize) byte limit")
                        }
                        received.append(contentsOf: buffer.readableBytesView)
                    case .end:
                        return (status, received)
                    }
                }
                throw ArcaError(.io, "keeper closed the connection before the end of its response")
            }
        } catch let error as ArcaError {
            throw error
        } catch let error as NIOSSLError {
            throw ArcaError(.integrity, "tls with the keeper at \(host):\(port) failed; is --keeper-pin \(pin) right?", cause: error)
        } catch {
            throw ArcaError(.io, "request to the keeper at \(host):\(port) failed", cause: error)
        }
    }
}
