import ArcaCore
import ArcaTestSupport
import Foundation
import Testing

/// Drives the real `arca` binary: `keeper serve` (SIGTERM ends it), `keeper platform add`, `session …`.
@Suite struct CommandLineTests {
    static var binary: String {
        ProcessInfo.processInfo.environment["ARCA_BIN"] ?? "\(PostgresCluster.repositoryRoot)/.build/debug/arca"
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary)))
    func servesSessionsAndStopsOnSIGTERM() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let arca = Self.binary
            let port = 20000 + Int(getpid() % 20000)
            #expect(runShell("'\(arca)' keeper serve --listen 127.0.0.1:\(port) --data '\(dir)/data' >'\(dir)/out' 2>'\(dir)/err' & echo $! >'\(dir)/pid'") == 0)
            let pidText = try String(contentsOfFile: "\(dir)/pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let pid = try #require(Int32(pidText))
            defer { kill(pid, SIGKILL) }
            var pin = ""
            for _ in 0..<100 where pin.isEmpty {
                let out = (try? String(contentsOfFile: "\(dir)/out", encoding: .utf8)) ?? ""
                pin = out.split(separator: "\n").first { $0.hasPrefix("keeper pin") }.map { String($0.split(separator: " ").last ?? "") } ?? ""
                if pin.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
            }
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

            kill(pid, SIGTERM)
            var exited = false
            for _ in 0..<100 where !exited {
                exited = kill(pid, 0) != 0 || (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.contains(") Z ") == true
                if !exited { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(exited)
        }
    }
}
