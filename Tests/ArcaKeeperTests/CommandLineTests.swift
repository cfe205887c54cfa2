import ArcaCore
import ArcaKeeperClient
import ArcaTestSupport
import Foundation
import Testing

/// Drives the real `arca` binary: `keeper serve` (SIGTERM ends it), `keeper platform add`, `session …`.
/// Starts `arca keeper serve ARGS` in the background; returns its pid and, once printed, its pin.
func startKeeperProcess(_ arca: String, _ args: String, dir: String, name: String) async throws -> (pid: Int32, pin: String) {
    #expect(runShell("'\(arca)' keeper serve \(args) >'\(dir)/\(name).out' 2>'\(dir)/\(name).err' & echo $! >'\(dir)/\(name).pid'") == 0)
    let pidText = try String(contentsOfFile: "\(dir)/\(name).pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    let pid = try #require(Int32(pidText))
    for _ in 0..<150 {
        let out = (try? String(contentsOfFile: "\(dir)/\(name).out", encoding: .utf8)) ?? ""
        if let line = out.split(separator: "\n").first(where: { $0.hasPrefix("keeper pin") }) {
            return (pid, String(line.split(separator: " ").last ?? ""))
        }
        try await Task.sleep(for: .milliseconds(100))
    }
    kill(pid, SIGKILL)
    throw ArcaError(.io, "keeper \(name) printed no pin: \((try? String(contentsOfFile: "\(dir)/\(name).err", encoding: .utf8)) ?? "")")
}

/// Sends SIGTERM and waits (up to 10 s) for the process to go away.
func terminate(_ pid: Int32) async throws -> Bool {
    kill(pid, SIGTERM)
    for _ in 0..<100 {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        if kill(pid, 0) != 0 || stat.contains(") Z ") { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return false
}

@Suite struct CommandLineTests {
    static var binary: String {
        ProcessInfo.processInfo.environment["ARCA_BIN"] ?? "\(PostgresCluster.repositoryRoot)/.build/debug/arca"
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary)))
    func servesSessionsAndStopsOnSIGTERM() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let arca = Self.binary
            let port = 20000 + Int(getpid() % 20000)
            let (pid, pin) = try await startKeeperProcess(arca, "--listen 127.0.0.1:\(port) --data '\(dir)/data'", dir: dir, name: "k")
            defer { kill(pid, SIGKILL) }
            #expect(pin.count == 64)
            // The key and identity are private to the keeper.
            #expect(try FileManager.default.attributesOfItem(atPath: "\(dir)/data/master.key")[.posixPermissions] as? Int == 0o600)
            #expect(try FileManager.default.attributesOfItem(atPath: "\(dir)/data/tls.key")[.posixPermissions] as? Int == 0o600)

            try sessionYAML(name: "team/app").write(toFile: "\(dir)/s.yaml", atomically: true, encoding: .utf8)
            let keeper = "--keeper https://127.0.0.1:\(port) --keeper-pin \(pin)"
            let env = "ARCA_HOME='\(dir)/home'"
            #expect(runShell("\(env) '\(arca)' session create '\(dir)/s.yaml' \(keeper) >'\(dir)/create' 2>&1") == 0)
            #expect(runShell("\(env) '\(arca)' session list \(keeper) >'\(dir)/list' 2>&1") == 0)
            #expect(try String(contentsOfFile: "\(dir)/list", encoding: .utf8).hasPrefix("team/app\t1\t"))
            #expect(try FileManager.default.attributesOfItem(atPath: "\(dir)/home/client.key")[.posixPermissions] as? Int == 0o600)
            // Another client key is not the owner; a wrong pin is refused.
            #expect(runShell("ARCA_HOME='\(dir)/other' '\(arca)' session show team/app \(keeper) >'\(dir)/show' 2>&1") != 0)
            #expect(try String(contentsOfFile: "\(dir)/show", encoding: .utf8).contains("not-owner"))
            #expect(runShell("\(env) '\(arca)' session list --keeper https://127.0.0.1:\(port) --keeper-pin \(String(repeating: "0", count: 64)) >/dev/null 2>&1") != 0)
            #expect(runShell("\(env) '\(arca)' session delete team/app \(keeper) >/dev/null 2>&1") == 0)

            let exited = try await terminate(pid)
            #expect(exited)
        }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary)))
    func twoKeeperProcessesOnOnePostgreSQLRedeemANonceExactlyOnce() async throws {
        let url = try await PostgresCluster.shared.freshDatabase()
        try await Fixture.withTemporaryDirectory { dir in
            let arca = Self.binary
            let runtime = SimRuntime()
            let pem = runtime.platform.publicKey.pemRepresentation
            try pem.write(toFile: "\(dir)/platform.pem", atomically: true, encoding: .utf8)
            let base = 20000 + Int(getpid() % 20000)
            // Replicas share the data directory's master key and TLS identity, and the database.
            let (a, pin) = try await startKeeperProcess(arca, "--listen 127.0.0.1:\(base + 1) --data '\(dir)/data' --database \(url)",
                                                        dir: dir, name: "a")
            defer { kill(a, SIGKILL) }
            let (b, pinB) = try await startKeeperProcess(arca, "--listen 127.0.0.1:\(base + 2) --data '\(dir)/data' --database \(url)",
                                                         dir: dir, name: "b")
            defer { kill(b, SIGKILL) }
            #expect(pin == pinB)
            #expect(runShell("'\(arca)' keeper platform add '\(dir)/platform.pem' --data '\(dir)/data' --database \(url) >/dev/null 2>&1") == 0)

            try sessionYAML().write(toFile: "\(dir)/s.yaml", atomically: true, encoding: .utf8)
            #expect(runShell("ARCA_HOME='\(dir)/home' '\(arca)' session create '\(dir)/s.yaml' --keeper https://127.0.0.1:\(base + 1) --keeper-pin \(pin) >/dev/null 2>&1") == 0)
            let clientA = try KeeperClient(url: "https://127.0.0.1:\(base + 1)", pin: pin, identity: nil)
            let clientB = try KeeperClient(url: "https://127.0.0.1:\(base + 2)", pin: pin, identity: nil)
            let nonce = try await clientA.nonce(session: "shop/api", service: "web").nonce
            let request = runtime.request(session: "shop/api", service: "web", nonce: nonce,
                                          evidence: try runtime.evidence(nonce: nonce, measurement: measurementA))
            let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                for client in [clientB, clientA, clientB] {
                    group.addTask {
                        do {
                            _ = try await client.release(request)
                            return "released"
                        } catch let error as KeeperRequestError {
                            return error.reason
                        }
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(outcomes.sorted() == ["nonce-unknown", "nonce-unknown", "released"])
            #expect(try await terminate(a))
            #expect(try await terminate(b))
        }
    }
}
