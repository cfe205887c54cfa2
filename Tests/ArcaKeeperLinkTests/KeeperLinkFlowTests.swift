import ArcaAttestation
import ArcaCore
import ArcaKeeperAPI
import ArcaKeeperLink
import Foundation
import Testing

/// The attestation flow against a real keeper over loopback.
@Suite(.serialized) struct KeeperLinkFlowTests {
    @Test func attestsAndReceivesTheSessionsCommandAndShieldKey() async throws {
        try await withLinkKeeper { f in
            // The platform key reaches the runtime as a file named by ARCA_PLATFORM_KEY.
            setenv(SimEvidenceProducer.keyEnvironmentVariable, f.platformKeyPath, 1)
            defer { unsetenv(SimEvidenceProducer.keyEnvironmentVariable) }
            let provider = try SimEvidenceProvider.fromEnvironment(measurement: measurementA)
            let payload = try await offThread {
                try KeeperLink.attest(keeperURL: f.url, pin: f.pin, session: "shop/api", service: "web",
                                      measurement: measurementA, evidenceProvider: provider)
            }
            #expect(payload.command == ["python3", "/app/main.py"])
            #expect(payload.keys == ["app": shieldKey])
            #expect(payload.environment["MODE"] == "prod")
            #expect(payload.environment["DB_PASSWORD"]?.count == 24)
            #expect(payload.session == "shop/api" && payload.service == "web")
            #expect(payload.workingDir == "/app" && payload.user == "1000:1000")
            let audit = try await f.keeper.store.auditEvents(limit: 1)
            #expect(audit.last?.action == "release" && audit.last?.outcome == "ok")
            #expect(f.metrics.exposition().contains("route=\"/v1/nonce\""))
        }
    }

    /// The pin this client computes (OpenSSL's SPKI encoding of the presented certificate) is the
    /// keeper's own `TLSIdentity.pin`: a request with that pin goes through, and the fingerprint
    /// a wrong pin reports as presented is exactly the keeper's.
    @Test func computesTheSamePinAsTheKeeper() async throws {
        try await withLinkKeeper { f in
            let client = try KeeperHTTPSClient(address: KeeperAddress(url: f.url), pin: "sha256:" + f.pin)
            let (status, body) = try await offThread { try client.send(method: "GET", path: "/healthz", body: nil) }
            #expect(status == 200)
            #expect(body == Array("ok\n".utf8))
            let wrong = String(repeating: "0", count: 64)
            let error = try await expectArcaError(.pinMismatch) {
                _ = try await offThread {
                    try KeeperHTTPSClient(address: KeeperAddress(url: f.url), pin: wrong).send(method: "GET", path: "/healthz", body: nil)
                }
            }
            #expect(error.message.contains("sha256:\(f.pin)"))
            #expect(error.message.contains("sha256:\(wrong)"))
        }
    }

    @Test func wrongPinIsRefusedWithBothFingerprints() async throws {
        try await withLinkKeeper { f in
            let provider = SimEvidenceProvider(producer: try SimEvidenceProducer(pemFile: f.platformKeyPath), measurement: measurementA)
            let wrong = sha256Hex(Array("not the keeper".utf8))
            let error = try await expectArcaError(.pinMismatch) {
                _ = try await offThread {
                    try KeeperLink.attest(keeperURL: f.url, pin: wrong, session: "shop/api", service: "web",
                                          measurement: measurementA, evidenceProvider: provider)
                }
            }
            #expect(error.message.contains(wrong))
            #expect(error.message.contains(f.pin))
            #expect(error.message.contains("127.0.0.1:\(f.port)"))
            // Nothing reached the keeper: no request was routed (the flow's first one is /v1/nonce).
            #expect(!f.metrics.exposition().contains("/v1/nonce"))
        }
    }

    @Test func sessionThatDoesNotAllowSimGivesTheKeepersReason() async throws {
        try await withLinkKeeper(allowed: ["sgx"]) { f in
            let error = try await attestExpectingRefusal(f, measurement: measurementA)
            #expect(error.keeperRefusal?.reason == "evidence-kind-not-allowed")
            #expect(error.keeperRefusal?.status == 403)
            #expect(error.message.contains("evidence-kind-not-allowed"))
        }
    }

    @Test func wrongMeasurementGivesTheKeepersReason() async throws {
        try await withLinkKeeper { f in
            let error = try await attestExpectingRefusal(f, measurement: measurementB)
            #expect(error.keeperRefusal?.reason == "measurement-mismatch")
            #expect(error.keeperRefusal?.status == 403)
            #expect(error.message.contains("measurement-mismatch"))
            #expect(!error.description.contains(shieldKey))
        }
    }

    @Test func attestsToTheAddressThatARCAKEEPEROverrides() async throws {
        try await withLinkKeeper { f in
            let provider = SimEvidenceProvider(producer: try SimEvidenceProducer(pemFile: f.platformKeyPath), measurement: measurementA)
            // The measured config names a keeper that is down; the override points at the real one.
            let address = try KeeperAddress.resolve(measured: "https://127.0.0.1:\(try unusedLoopbackPort())", override: f.url)
            let payload = try await offThread {
                try KeeperLink.attest(keeper: address, pin: f.pin, session: "shop/api", service: "web",
                                      measurement: measurementA, evidenceProvider: provider)
            }
            #expect(payload.keys == ["app": shieldKey])
        }
    }

    @Test func unregisteredPlatformGivesTheKeepersReason() async throws {
        try await withLinkKeeper(registerPlatform: false) { f in
            let error = try await attestExpectingRefusal(f, measurement: measurementA)
            #expect(error.keeperRefusal?.reason == "platform-unregistered")
        }
    }

    @Test func unknownSessionGivesTheKeepersReason() async throws {
        try await withLinkKeeper { f in
            let provider = SimEvidenceProvider(producer: try SimEvidenceProducer(pemFile: f.platformKeyPath), measurement: measurementA)
            let error = try await expectArcaError(.keeperRefused) {
                _ = try await offThread {
                    try KeeperLink.attest(keeperURL: f.url, pin: f.pin, session: "shop/none", service: "web",
                                          measurement: measurementA, evidenceProvider: provider)
                }
            }
            #expect(error.keeperRefusal?.reason == "session-not-found")
        }
    }

    @Test func closedPortIsUnreachableNamingTheAddress() async throws {
        let port = try unusedLoopbackPort()
        let provider = SimEvidenceProvider(producer: SimEvidenceProducer(privateKey: .init()), measurement: measurementA)
        let error = try await expectArcaError(.keeperUnreachable) {
            _ = try await offThread {
                try KeeperLink.attest(keeperURL: "https://127.0.0.1:\(port)", pin: String(repeating: "ab", count: 32),
                                      session: "shop/api", service: "web", measurement: measurementA, evidenceProvider: provider,
                                      options: KeeperLinkOptions(connectTimeout: 5))
            }
        }
        #expect(error.message.contains("127.0.0.1:\(port)"))
        // Refused at once, not after the connect timeout.
        #expect(error.message.contains("refused"))
    }

    @Test func unresolvableHostIsUnreachable() async throws {
        let error = try await expectArcaError(.keeperUnreachable) {
            _ = try await offThread {
                try KeeperHTTPSClient(address: KeeperAddress(url: "https://no-such-host.invalid:8443"), pin: String(repeating: "ab", count: 32))
                    .send(method: "GET", path: "/", body: nil)
            }
        }
        #expect(error.message.contains("no-such-host.invalid:8443"))
    }

    private func attestExpectingRefusal(_ f: LinkFixture, measurement: [UInt8]) async throws -> ArcaError {
        let provider = SimEvidenceProvider(producer: try SimEvidenceProducer(pemFile: f.platformKeyPath), measurement: measurement)
        return try await expectArcaError(.keeperRefused) {
            _ = try await offThread {
                try KeeperLink.attest(keeperURL: f.url, pin: f.pin, session: "shop/api", service: "web",
                                      measurement: measurement, evidenceProvider: provider)
            }
        }
    }
}

/// A loopback port nothing listens on: bound, then closed.
func unusedLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ArcaError(.io, "socket failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw ArcaError(.io, "bind failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}
