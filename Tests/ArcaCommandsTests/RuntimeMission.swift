import ArcaArchive
import ArcaCore
import ArcaOCI
import ArcaTestSupport
import Foundation
import Testing

/// The whole mission under runc, as root, for the end-to-end runtime tests: a keeper process, a
/// sealed image registered with it, the sim platform key, `arca run`'s bundle, and `runc run`.
final class RuntimeMission {
    /// What to seal. The default is a busybox-static image (no libc) whose encrypted web root
    /// `/var/www` is served by `httpd` on `servicePort`.
    struct Recipe {
        /// Builds the native image in the mission's directory and returns its reference; nil for busybox.
        var native: ((RuntimeMission) throws -> String)?
        /// Extra files for the busybox image: path → (content, mode).
        var files: [String: (String, Int)] = [:]
        /// The busybox image's entrypoint; httpd on `servicePort` when nil.
        var entrypoint: ((RuntimeMission) -> [String])?
        var user: String?
        var encrypt = ["/var/www"]
        var ephemeral = ["/tmp"]
        var allowHostArguments = false
        /// Changes the session document (YAML) before it is registered.
        var editSession: ((String) -> String)?
    }

    let dir: String
    let keeperPort = Int.random(in: 20000...29999)
    let servicePort = Int.random(in: 30000...39999)
    var keeper: Process?
    var pin = ""
    var containers: [String] = []
    static let page = "<h1>sealed page \(UInt32.random(in: 0...UInt32.max))</h1>\n"

    init(dir: String, recipe: Recipe = Recipe()) throws {
        self.dir = dir
        try startKeeper()
        try buildAndSeal(recipe)
    }

    func startKeeper() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Tool.arca)
        process.arguments = ["keeper", "serve", "--listen", "127.0.0.1:\(keeperPort)", "--data", dir + "/keeper"]
        _ = FileManager.default.createFile(atPath: dir + "/keeper.log", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/keeper.log"))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        keeper = process
        for _ in 0..<150 {
            let text = (try? String(contentsOfFile: dir + "/keeper.log", encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.contains("keeper pin") }), let last = line.split(separator: " ").last {
                pin = String(last)
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

    /// The busybox image: `sh`, `httpd` and a few applets, the page, and the recipe's files.
    func busyboxImage(_ recipe: Recipe) throws -> String {
        let layout = dir + "/img"
        try Tool.check("umoci", ["init", "--layout", layout])
        try Tool.check("umoci", ["new", "--image", layout + ":1"])
        try Tool.check("umoci", ["unpack", "--image", layout + ":1", dir + "/b"])
        let root = dir + "/b/rootfs"
        try FileSystem.makeDirectories(root + "/bin")
        try FileSystem.makeDirectories(root + "/var/www")
        try Tool.check("cp", ["/bin/busybox", root + "/bin/busybox"])
        for applet in ["sh", "httpd", "sleep", "cat", "ls"] { try Tool.check("ln", ["-s", "busybox", root + "/bin/\(applet)"]) }
        try SampleImages.write(Self.page, to: root + "/var/www/index.html")
        for (path, file) in recipe.files {
            try FileSystem.makeDirectories(root + String(path[..<path.lastIndex(of: "/")!]))
            try SampleImages.write(file.0, to: root + path, mode: file.1)
        }
        try Tool.check("umoci", ["repack", "--image", layout + ":1", dir + "/b"])
        let entrypoint = recipe.entrypoint?(self) ?? ["/bin/httpd", "-f", "-p", "\(servicePort)", "-h", "/var/www"]
        var config = ["config", "--image", layout + ":1", "--config.entrypoint", entrypoint[0]]
            + entrypoint.dropFirst().map { "--config.cmd=\($0)" }
        if let user = recipe.user { config += ["--config.user", user] }
        try Tool.check("umoci", config)
        return "oci:\(layout):1"
    }

    func buildAndSeal(_ recipe: Recipe) throws {
        let native = try recipe.native?(self) ?? busyboxImage(recipe)
        let keeperURL = "https://127.0.0.1:\(keeperPort)"
        try Tool.check(Tool.arca, ["seal", "--from", native, "--to", "oci:\(dir)/sealed:1"]
                       + recipe.encrypt.flatMap { ["--encrypt", $0] } + recipe.ephemeral.flatMap { ["--ephemeral", $0] }
                       + ["--session", "test/web", "--allow-sim", "--keeper", keeperURL,
                          "--keeper-pin", pin, "--session-out", dir + "/session.yaml", "--quiet"])
        var session = try String(contentsOfFile: dir + "/session.yaml", encoding: .utf8)
        if recipe.allowHostArguments {
            session = session.replacingOccurrences(of: "allowHostArgs: false", with: "allowHostArgs: true")
        }
        if let edit = recipe.editSession { session = edit(session) }
        try FileSystem.writeAtomically(Array(session.utf8), to: dir + "/session.yaml", permissions: [.ownerReadWrite])
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
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/\(name).log"))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        containers.append(name)
        return process
    }

    func log(_ name: String) -> String { (try? String(contentsOfFile: dir + "/\(name).log", encoding: .utf8)) ?? "" }

    func get(_ path: String = "/", port: Int? = nil, attempts: Int = 100) -> Tool.Result? {
        for _ in 0..<attempts {
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

    /// The host pid of the container's init (arca-init), from `runc state`.
    func initPID(_ name: String) throws -> Int32 {
        let state = try Tool.check("runc", ["state", name]).stdout
        let object = try JSONSerialization.jsonObject(with: Data(state.utf8)) as? [String: Any]
        return try #require((object?["pid"] as? NSNumber)?.int32Value, "runc state \(name): \(state)")
    }

    /// Every process in the pid namespace of host pid `pid`, as (pid, parent, state, command).
    static func processes(inNamespaceOf pid: Int32) throws -> [(pid: Int32, parent: Int32, state: String, command: String)] {
        let namespace = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/pid")
        return try FileSystem.listDirectory("/proc").compactMap { name in
            guard let other = Int32(name), (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(name)/ns/pid")) == namespace,
                  let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, let parent = Int32(fields[1]) else { return nil }
            return (other, parent, String(fields[0]), String(stat[stat.index(after: open)..<close]))
        }
    }

    func cleanUp() {
        for name in containers {
            _ = try? Tool.run("runc", ["kill", name, "KILL"])
            _ = try? Tool.run("runc", ["delete", "--force", name])
        }
        stopKeeper()
    }

    /// Runs `body` with a fresh mission in its own temporary directory, cleaned up afterwards.
    static func with(_ recipe: Recipe = Recipe(), _ body: (RuntimeMission) throws -> Void) async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let mission = try RuntimeMission(dir: dir, recipe: recipe)
            defer { mission.cleanUp() }
            try body(mission)
        }
    }
}
