import ArcaCore
import ArcaTestSupport
import Foundation
import Testing

/// PID 1 duties, exercised through `arca-test-supervisor`, which runs `ServiceSupervisor` exactly as
/// arca-init does, in a child process of the test.
@Suite struct ServiceSupervisorTests {
    static var supervisor: String { Tool.repositoryRoot + "/.build/debug/arca-test-supervisor" }

    private func supervise(_ script: String) throws -> Tool.Result { try supervise([], script) }

    private func supervise(_ options: [String], _ script: String) throws -> Tool.Result {
        try Tool.run(Self.supervisor, options + ["--", "/bin/sh", "-c", script])
    }

    @Test func exitStatusIsTheServicesAndSignalsAre128PlusN() throws {
        #expect(try supervise("exit 7").status == 7)
        #expect(try supervise("kill -KILL $$").status == 137)
        #expect(try supervise("kill -TERM $$").status == 143)
    }

    @Test func forwardsSignalsToTheService() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.supervisor)
        process.arguments = ["--", "/bin/sh", "-c", "trap 'exit 42' TERM; while true; do sleep 0.1; done"]
        try process.run()
        Thread.sleep(forTimeInterval: 0.8)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 42)
    }

    @Test func killsAServiceThatIgnoresTERMAfterTheGracePeriod() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.supervisor)
        process.arguments = ["--grace-ms", "500", "--", "/bin/sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]
        try process.run()
        Thread.sleep(forTimeInterval: 0.8)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 137)
    }

    @Test func reapsOrphansSoNoZombiesRemain() throws {
        // Orphaned grandchildren are reparented to the supervisor (a subreaper) and must be reaped.
        let script = """
            sup=$PPID
            for i in 1 2 3 4; do ( sleep 0.1 & ) ; done
            sleep 1
            for f in /proc/[0-9]*/status; do
              awk -v p="$sup" '/^PPid:/ { pp = $2 } /^State:/ { s = $2 } END { if (pp == p) print s }' "$f" 2>/dev/null
            done
            """
        let result = try supervise(script)
        #expect(result.status == 0)
        let states = result.stdout.split(separator: "\n")
        #expect(!states.isEmpty)  // the shell itself is listed
        #expect(!states.contains("Z"), "zombies: \(result.stdout)")
    }

    @Test func serviceRunsWithItsIdentityNoNewPrivilegesAndNoSysAdmin() throws {
        let result = try supervise(["--uid", "65534", "--gid", "65534"], "id -u; id -g; grep -E '^(NoNewPrivs|CapBnd)' /proc/self/status")
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.prefix(2) == ["65534", "65534"])
        #expect(lines.contains { $0.hasPrefix("NoNewPrivs:") && $0.hasSuffix("1") })
        let bounding = try #require(lines.first { $0.hasPrefix("CapBnd:") }?.split(separator: "\t").last.flatMap { UInt64($0, radix: 16) })
        #expect(bounding & (1 << 21) == 0)  // CAP_SYS_ADMIN
    }

    @Test func stopsTheServiceWhenItsFileSystemFails() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.supervisor)
            process.arguments = ["--stop-file", dir + "/fuse-failed", "--grace-ms", "500", "--", "/bin/sh", "-c", "exec sleep 30"]
            let errors = Pipe()
            process.standardError = errors
            try process.run()
            try await Task.sleep(for: .milliseconds(500))
            try FileSystem.writeAtomically([], to: dir + "/fuse-failed")
            process.waitUntilExit()
            #expect(process.terminationStatus == 143)
            let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(log.contains("stopping the service"))
        }
    }

    @Test func aServiceThatCannotStartIsNamed() throws {
        let result = try Tool.run(Self.supervisor, ["--", "/no/such/program"])
        #expect(result.status == 127)
        #expect(result.stderr.contains("cannot start /no/such/program"))
    }
}
