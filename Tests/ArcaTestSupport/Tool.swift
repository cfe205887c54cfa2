import ArcaCore
import Foundation

/// Runs external programs (skopeo, umoci, the `arca` binary) from tests.
public enum Tool {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// The repository's root directory.
    public static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The `arca` binary built for these tests (`ARCA_BIN`, else `.build/debug/arca`).
    public static var arca: String {
        environmentValue("ARCA_BIN") ?? repositoryRoot + "/.build/debug/arca"
    }

    /// Where tests cache expensive fixtures (the mmdebstrap image) between runs.
    public static var cacheDirectory: String {
        environmentValue("ARCA_TEST_CACHE") ?? repositoryRoot + "/.build/test-cache"
    }

    /// True when `name` is an executable on PATH.
    public static func exists(_ name: String) -> Bool {
        let path = environmentValue("PATH") ?? "/usr/bin:/bin"
        return path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
    }

    /// Runs `executable` (a path, or a name looked up on PATH) and waits for it.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                           directory: String? = nil) throws -> Result {
        let process = Process()
        if executable.hasPrefix("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        process.environment = env
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        // Output goes to files, not pipes, so a chatty child can never block on a full pipe.
        let scratch = try FileSystem.makeTemporaryDirectory(prefix: "arca-tool")
        defer { try? FileSystem.removeTree(scratch) }
        _ = FileManager.default.createFile(atPath: scratch + "/out", contents: nil)
        _ = FileManager.default.createFile(atPath: scratch + "/err", contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch + "/out"))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch + "/err"))
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try out.close()
        try err.close()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: try FileSystem.readFile(scratch + "/out", limit: 64 << 20), as: UTF8.self),
                      stderr: String(decoding: try FileSystem.readFile(scratch + "/err", limit: 64 << 20), as: UTF8.self))
    }

    /// Runs a tool and throws, with its stderr, unless it exits 0.
    @discardableResult
    public static func check(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                             directory: String? = nil) throws -> Result {
        let result = try run(executable, arguments, environment: environment, directory: directory)
        guard result.status == 0 else {
            throw ArcaError(.io, "\(executable) \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        }
        return result
    }

    /// Runs the `arca` binary.
    @discardableResult
    public static func arca(_ arguments: String..., environment: [String: String] = [:]) throws -> Result {
        try run(arca, arguments, environment: environment)
    }
}
