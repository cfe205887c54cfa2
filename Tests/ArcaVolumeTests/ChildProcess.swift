import ArcaCore
import Foundation

/// A child process started with posix_spawn and reaped with waitpid on the caller's thread
/// (Foundation's `Process` left exited children unreaped while a long-lived sibling ran, so the
/// mounted tests do their own bookkeeping). Output goes to files, never pipes.
final class ChildProcess: @unchecked Sendable {
    // @unchecked: `status` is only touched by the thread that owns the test.
    let pid: pid_t
    private(set) var status: Int32?

    init(_ arguments: [String], stdout: String = "/dev/null", stderr: String = "/dev/null") throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let result = posix_spawnp(&child, arguments[0], &actions, nil, argv, environ)
        guard result == 0 else { throw ArcaError(.io, "cannot start \(arguments[0]): errno \(result)") }
        pid = child
    }

    /// False once the child has exited (and was reaped).
    var isRunning: Bool {
        if status != nil { return false }
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, WNOHANG)
        if result == pid { status = raw; return false }
        if result < 0 { status = -1; return false }  // ECHILD: reaped elsewhere
        return true
    }

    /// Waits up to `timeout` seconds (SIGKILL after that); returns the exit code, 128+n for a signal.
    @discardableResult
    func wait(timeout: Double = 120) -> Int32 {
        let start = Date()
        while isRunning {
            if Date().timeIntervalSince(start) > timeout { kill(pid, SIGKILL) }
            usleep(2_000)
        }
        let raw = status ?? -1
        if raw < 0 { return -1 }
        return raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
    }

    func signal(_ number: Int32) {
        if isRunning { kill(pid, number) }
    }
}

extension ChildProcess {
    /// Runs to completion; returns the exit code and stdout, throwing (with stderr) unless it is 0.
    static func check(_ arguments: [String], scratch: String) throws -> String {
        let out = scratch + "/child.out", err = scratch + "/child.err"
        unlink(out)
        unlink(err)
        let status = try ChildProcess(arguments, stdout: out, stderr: err).wait()
        let output = String(decoding: (try? FileSystem.readFile(out, limit: 1 << 20)) ?? [], as: UTF8.self)
        guard status == 0 else {
            let errors = String(decoding: (try? FileSystem.readFile(err, limit: 1 << 20)) ?? [], as: UTF8.self)
            throw ArcaError(.io, "\(arguments[0]) exited \(status): \(errors)")
        }
        return output
    }
}
