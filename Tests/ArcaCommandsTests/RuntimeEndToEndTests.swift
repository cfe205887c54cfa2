import ArcaCore
import ArcaTestSupport
import Foundation
import Testing

/// The whole mission under runc, as root: a sealed busybox-static image (no libc) whose web root
/// is encrypted, a real keeper process, the sim platform key, `arca run`'s bundle, and `runc run`.
@Suite(.serialized) struct RuntimeEndToEndTests {
    /// A keeper process, a sealed image registered with it, and helpers to run containers.
    final class Mission {
        let dir: String
        let keeperPort = Int.random(in: 20000...29999)
        let servicePort = Int.random(in: 30000...39999)
        var keeper: Process?
        var pin = ""
        var containers: [String] = []
        static let page = "<h1>sealed page \(UInt32.random(in: 0...UInt32.max))</h1>\n"

        init(dir: String, allowHostArguments: Bool = false) throws {
            self.dir = dir
            try startKeeper()
            try buildAndSeal(allowHostArguments: allowHostArguments)
        }

        func startKeeper() throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Tool.arca)
            process.arguments = ["keeper", "serve", "--listen", "127.0.0.1:\(keeperPort)", "--data", dir + "/keeper"]
            let log = FileHandle(forWritingAtPath: dir + "/keeper.log") ?? {
                _ = FileManager.default.createFile(atPath: dir + "/keeper.log", contents: nil)
                return FileHandle(forWritingAtPath: dir + "/keeper.log")!
            }()
            process.standardOutput = log
            process.standardError = log
            try process.run()
            keeper = process
            for _ in 0..<150 {
                let text = (try? String(contentsOfFile: dir + "/keeper.log", encoding: .utf8)) ?? ""
                if let line = text.split(separator: "\n").first(where: { $0.contains("keeper pin") }) {
                    pin = String(line.split(separator: " ").last!)
                    return
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
            throw ArcaError(.io, "the keeper did not start: \((try? String(contentsOfFile: dir + "/keeper.log", encoding: .utf8)) ?? "")")
        }

        func stopKeeper() {
            keeper?.terminate()
            keeper?.waitUntilExit()
            keeper = nil
        }

        func buildAndSeal(allowHostArguments: Bool) throws {
            let layout = dir + "/img"
            try Tool.check("umoci", ["init", "--layout", layout])
            try Tool.check("umoci", ["new", "--image", layout + ":1"])
            try Tool.check("umoci", ["unpack", "--image", layout + ":1", dir + "/b"])
            let root = dir + "/b/rootfs"
            try FileSystem.makeDirectories(root + "/bin")
            try FileSystem.makeDirectories(root + "/var/www")
            try Tool.check("cp", ["/bin/busybox", root + "/bin/busybox"])
            for applet in ["sh", "httpd"] { try Tool.check("ln", ["-s", "busybox", root + "/bin/\(applet)"]) }
            try SampleImages.write(Self.page, to: root + "/var/www/index.html")
            try Tool.check("umoci", ["repack", "--image", layout + ":1", dir + "/b"])
            try Tool.check("umoci", ["config", "--image", layout + ":1", "--config.entrypoint", "/bin/httpd",
                                     "--config.cmd=-f", "--config.cmd=-p", "--config.cmd=\(servicePort)", "--config.cmd=-h", "--config.cmd=/var/www"])
            let keeperURL = "https://127.0.0.1:\(keeperPort)"
            try Tool.check(Tool.arca, ["seal", "--from", "oci:\(layout):1", "--to", "oci:\(dir)/sealed:1", "--encrypt", "/var/www",
                                       "--ephemeral", "/tmp", "--session", "test/web", "--allow-sim", "--keeper", keeperURL,
                                       "--keeper-pin", pin, "--session-out", dir + "/session.yaml", "--quiet"])
            if allowHostArguments {
                let session = try String(contentsOfFile: dir + "/session.yaml", encoding: .utf8)
                    .replacingOccurrences(of: "allowHostArgs: false", with: "allowHostArgs: true")
                try FileSystem.writeAtomically(Array(session.utf8), to: dir + "/session.yaml", permissions: [.ownerReadWrite])
            }
            try Tool.check(Tool.arca, ["session", "create", dir + "/session.yaml", "--keeper", keeperURL, "--keeper-pin", pin],
                           environment: ["ARCA_HOME": dir + "/home"])
        }

        /// Prepares a bundle (registering the platform key on first use).
        func bundle(_ name: String, arguments: [String] = []) throws -> String {
            let path = dir + "/" + name
            try Tool.check(Tool.arca, ["run", "--prepare-only", "--bundle", path, "oci:\(dir)/sealed:1"] + (arguments.isEmpty ? [] : ["--"] + arguments),
                           environment: ["ARCA_HOME": dir + "/home"])
            if !FileSystem.exists(dir + "/home/registered") {
                try Tool.check(Tool.arca, ["keeper", "platform", "add", dir + "/home/platform.pub.pem", "--data", dir + "/keeper"])
                try FileSystem.writeAtomically([], to: dir + "/home/registered")
            }
            return path
        }

        /// Starts `runc run` in the background; its output goes to NAME.log.
        func start(_ bundle: String, name: String) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["runc", "run", "--bundle", bundle, name]
            _ = FileManager.default.createFile(atPath: dir + "/\(name).log", contents: nil)
            let log = FileHandle(forWritingAtPath: dir + "/\(name).log")!
            process.standardOutput = log
            process.standardError = log
            process.standardInput = FileHandle.nullDevice
            try process.run()
            containers.append(name)
            return process
        }

        func log(_ name: String) -> String { (try? String(contentsOfFile: dir + "/\(name).log", encoding: .utf8)) ?? "" }

        func get(_ path: String = "/", port: Int? = nil) -> Tool.Result? {
            for _ in 0..<100 {
                if let result = try? Tool.run("curl", ["-s", "-m", "2", "-w", "\n%{http_code}", "http://127.0.0.1:\(port ?? servicePort)\(path)"]),
                   result.status == 0 { return result }
                Thread.sleep(forTimeInterval: 0.1)
            }
            return nil
        }

        /// Waits for a background runc to end, with a hard limit (a stuck container is killed).
        func wait(_ process: Process, name: String, seconds: Double = 20) -> Int32 {
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
            if process.isRunning { _ = try? Tool.run("runc", ["kill", name, "KILL"]); process.waitUntilExit() }
            return process.terminationStatus
        }

        func cleanUp() {
            for name in containers {
                _ = try? Tool.run("runc", ["kill", name, "KILL"])
                _ = try? Tool.run("runc", ["delete", "--force", name])
            }
            stopKeeper()
        }
    }

    private func withMission(allowHostArguments: Bool = false, _ body: (Mission) throws -> Void) async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let mission = try Mission(dir: dir, allowHostArguments: allowHostArguments)
            defer { mission.cleanUp() }
            try body(mission)
        }
    }

    @Test func sealedServiceAnswersAndStopsWithTheServicesStatus() async throws {
        try await withMission { mission in
            let bundle = try mission.bundle("run")
            #expect(!FileSystem.exists(bundle + "/rootfs/var/www/index.html"))  // only in the shield blob
            let name = "arca-e2e-\(mission.servicePort)"
            let runc = try mission.start(bundle, name: name)
            let answer = try #require(mission.get(), "no answer; container log: \(mission.log(name))")
            #expect(answer.stdout.hasSuffix("200"))
            #expect(answer.stdout.hasPrefix(Mission.page))
            #expect(mission.log(name).contains("WARNING: sim evidence"))
            try Tool.check("runc", ["kill", name, "TERM"])
            #expect(mission.wait(runc, name: name) == 143)  // httpd's own death by SIGTERM, 128 + 15
        }
    }

    @Test func aFlippedByteInTheShieldBlobIsAnErrorNeverWrongBytes() async throws {
        try await withMission { mission in
            let bundle = try mission.bundle("run")
            let blobs = bundle + "/rootfs/.arca/shield/blobs"
            let blob = blobs + "/" + (try #require(try FileSystem.listDirectory(blobs).first))
            var bytes = try FileSystem.readFile(blob, limit: 1 << 26)
            bytes[64 + 10] ^= 0x01  // inside the first sealed chunk, after the 64-byte header
            try FileSystem.writeAtomically(bytes, to: blob)
            let name = "arca-e2e-flip-\(mission.servicePort)"
            let runc = try mission.start(bundle, name: name)
            let answer = mission.get()
            #expect(answer.map { !$0.stdout.contains("sealed page") } ?? true)
            #expect(answer.map { !$0.stdout.hasSuffix("200") } ?? true)
            #expect(mission.log(name).contains("refused /var/www/index.html"), "\(mission.log(name))")
            _ = try? Tool.run("runc", ["kill", name, "KILL"])
            _ = mission.wait(runc, name: name)
        }
    }

    @Test func aModifiedMeasuredConfigIsDeniedAndNothingRuns() async throws {
        try await withMission { mission in
            let bundle = try mission.bundle("run")
            let path = bundle + "/rootfs/.arca/measured-config.json"
            let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "\"-f\"", with: "\"-v\"")
            try FileSystem.writeAtomically(Array(text.utf8), to: path)
            let name = "arca-e2e-denied-\(mission.servicePort)"
            let runc = try mission.start(bundle, name: name)
            let status = mission.wait(runc, name: name)
            #expect(status != 0)
            let log = mission.log(name)
            #expect(log.contains("measurement"), "\(log)")
            #expect(log.contains("403") || log.contains("measurement-mismatch"), "\(log)")
            #expect(!log.contains("started /bin/httpd"))
        }
    }

    @Test func keeperDownIsAClearError() async throws {
        try await withMission { mission in
            let bundle = try mission.bundle("run")
            mission.stopKeeper()
            let name = "arca-e2e-down-\(mission.servicePort)"
            let runc = try mission.start(bundle, name: name)
            let status = mission.wait(runc, name: name)
            #expect(status != 0)
            #expect(mission.log(name).contains("unreachable"), "\(mission.log(name))")
            #expect(!mission.log(name).contains("started /bin/httpd"))
        }
    }

    @Test func theSameSealedImageRunsTwiceAtOnce() async throws {
        // The session allows host arguments, so the second copy can listen on another port.
        try await withMission(allowHostArguments: true) { mission in
            let otherPort = mission.servicePort + 1
            let names = ["arca-e2e-one-\(mission.servicePort)", "arca-e2e-two-\(mission.servicePort)"]
            let first = try mission.start(mission.bundle("one"), name: names[0])
            let second = try mission.start(mission.bundle("two", arguments: ["-f", "-p", "\(otherPort)", "-h", "/var/www"]), name: names[1])
            for port in [mission.servicePort, otherPort] {
                let answer = try #require(mission.get(port: port), "no answer on \(port): \(mission.log(names[0])) \(mission.log(names[1]))")
                #expect(answer.stdout.hasPrefix(Mission.page))
            }
            for name in names { try Tool.check("runc", ["kill", name, "TERM"]) }
            #expect(mission.wait(first, name: names[0]) == 143)
            #expect(mission.wait(second, name: names[1]) == 143)
        }
    }

    @Test func hostArgumentsAreIgnoredUnlessTheSessionAllowsThem() async throws {
        try await withMission { mission in
            let name = "arca-e2e-args-\(mission.servicePort)"
            let runc = try mission.start(mission.bundle("run", arguments: ["-f", "-p", "\(mission.servicePort + 1)", "-h", "/"]), name: name)
            let answer = try #require(mission.get(), "\(mission.log(name))")  // still the sealed port and web root
            #expect(answer.stdout.hasPrefix(Mission.page))
            try Tool.check("runc", ["kill", name, "TERM"])
            _ = mission.wait(runc, name: name)
        }
    }
}
