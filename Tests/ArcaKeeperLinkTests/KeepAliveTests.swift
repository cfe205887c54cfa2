import ArcaAttestation
import ArcaCore
import ArcaKeeperAPI
@testable import ArcaKeeperLink
import Foundation
import Testing

/// Several requests on one pinned connection, and the cases where the connection must not be reused.
@Suite struct KeepAliveTests {
    @Test func oneConnectionCarriesSeveralRequestsToTheKeeper() async throws {
        try await withLinkKeeper { f in
            let (statuses, reusable) = try await offThread { () -> ([Int], [Bool]) in
                let connection = try KeeperHTTPSClient(address: KeeperAddress(url: f.url), pin: f.pin).connect()
                var statuses: [Int] = []
                var reusable: [Bool] = []
                for keepAlive in [true, true, false] {
                    statuses.append(try connection.send(method: "GET", path: "/healthz", body: nil, keepAlive: keepAlive).status)
                    reusable.append(connection.isReusable)
                }
                // After `Connection: close`, the connection refuses another request before sending anything.
                do {
                    _ = try connection.send(method: "GET", path: "/healthz", body: nil, keepAlive: true)
                    reusable.append(true)
                } catch let error as ArcaError where error.code == .invalidArgument {
                    reusable.append(false)
                }
                return (statuses, reusable)
            }
            #expect(statuses == [200, 200, 200])
            #expect(reusable == [true, true, false, false])
        }
    }

    /// The server's answer decides: `Connection: close`, HTTP/1.0, or bytes beyond the response each
    /// end reuse (the next answer could not be told apart from stray bytes).
    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true),
        ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: Keep-Alive, Close\r\n\r\nok", false),
        ("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false),
        ("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok", true),
        ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false),
    ])
    func theResponseDecidesWhetherTheConnectionIsReused(_ response: String, _ reusable: Bool) async throws {
        let server = try TinyTLSServer(behaviour: .respond(Array(response.utf8)))
        let (body, isReusable) = try await offThread { () -> ([UInt8], Bool) in
            let connection = try KeeperHTTPSClient(address: KeeperAddress(url: server.url), pin: server.identity.pin).connect()
            let answer = try connection.send(method: "POST", path: "/v1/nonce", body: Array("{}".utf8), keepAlive: true)
            return (answer.body, connection.isReusable)
        }
        #expect(body == Array("ok".utf8))
        #expect(isReusable == reusable)
        #expect(String(decoding: server.received(), as: UTF8.self).contains("\r\nConnection: keep-alive\r\n"))
    }

    @Test func aOneShotRequestAsksTheKeeperToClose() async throws {
        let server = try TinyTLSServer(behaviour: .respond(Array("HTTP/1.1 204 No Content\r\n\r\n".utf8)))
        let client = try KeeperHTTPSClient(address: KeeperAddress(url: server.url), pin: server.identity.pin)
        let (status, _) = try await offThread { try client.send(method: "GET", path: "/healthz", body: nil) }
        #expect(status == 204)
        #expect(String(decoding: server.received(), as: UTF8.self).contains("\r\nConnection: close\r\n"))
    }

    /// `KeeperLinkAttester` (the keeper benchmark's persistent-connection mode): every attestation
    /// is complete (its own key, nonce, evidence and release) but the connection is kept; a refusal
    /// drops it and the next attestation opens a new one.
    @Test func anAttesterKeepsItsConnectionBetweenAttestationsAndDropsItAfterARefusal() async throws {
        try await withLinkKeeper { f in
            setenv(SimEvidenceProducer.keyEnvironmentVariable, f.platformKeyPath, 1)
            defer { unsetenv(SimEvidenceProducer.keyEnvironmentVariable) }
            let good = try SimEvidenceProvider.fromEnvironment(measurement: measurementA)
            let wrong = try SimEvidenceProvider.fromEnvironment(measurement: measurementB)
            let (kept, keys, refused, afterRefusal) = try await offThread { () -> (Bool, [[String: String]], Bool, Bool) in
                let attester = try KeeperLinkAttester(keeper: KeeperAddress(url: f.url), pin: f.pin)
                var keys = [try attester.attest(session: "shop/api", service: "web", measurement: measurementA, evidenceProvider: good).keys]
                guard let first = attester.connection else { return (false, keys, false, false) }
                for _ in 0..<2 {
                    keys.append(try attester.attest(session: "shop/api", service: "web", measurement: measurementA, evidenceProvider: good).keys)
                }
                let kept = attester.connection === first
                var refused = false
                do {
                    _ = try attester.attest(session: "shop/api", service: "web", measurement: measurementB, evidenceProvider: wrong)
                } catch let error as ArcaError where error.code == .keeperRefused {
                    refused = attester.connection == nil
                }
                keys.append(try attester.attest(session: "shop/api", service: "web", measurement: measurementA, evidenceProvider: good).keys)
                return (kept, keys, refused, attester.connection != nil && attester.connection !== first)
            }
            #expect(kept)
            #expect(keys == Array(repeating: ["app": shieldKey], count: 4))
            #expect(refused)
            #expect(afterRefusal)
            let audit = try await f.keeper.store.auditEvents(limit: 20)
            #expect(audit.filter { $0.action == "release" && $0.outcome == "ok" }.count == 4)
        }
    }
}
