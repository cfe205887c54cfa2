import ArcaCore
import ArcaCrypto
import ArcaFUSE
import ArcaTestSupport
import Dispatch
import Foundation

/// The `arca-volume-test-server` child serving one volume at `mountpoint`. A watchdog aborts the
/// FUSE connection after `deadline` seconds so a hung server cannot hold the test; `kill` and
/// `stop` always end with the mount detached.
final class VolumeServer: @unchecked Sendable {
    // @unchecked: `process` is only used from the test's thread and the watchdog's abort.
    let process: Process
    let mountpoint: String
    let stderrPath: String
    private let watchdog: DispatchWorkItem

    static var executable: String {
        ProcessInfo.processInfo.environment["ARCA_VOLUME_TEST_SERVER"] ?? Tool.repositoryRoot + "/.build/debug/arca-volume-test-server"
    }

    /// Starts the server for the fixture `directory` (host/, mnt/, key, anchor) and waits for "ready".
    init(directory: String, deadline: Double = 300) throws {
        mountpoint = directory + "/mnt"
        stderrPath = directory + "/server.err"
        try FileSystem.makeDirectories(mountpoint)
        if !FileSystem.exists(directory + "/key") { try KeyFile.write(MasterKey.generate(), to: directory + "/key") }
        let out = directory + "/server.out"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = [directory + "/host", mountpoint, directory + "/key", directory + "/anchor"]
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        process.standardInput = FileHandle.nullDevice
        let mountpoint = self.mountpoint
        watchdog = DispatchWorkItem { try? FUSEConnection.find(mountpoint: mountpoint).abort() }
        try process.run()
        let start = Date()
        while !(String(decoding: (try? FileSystem.readFile(out, limit: 4096)) ?? [], as: UTF8.self).contains("ready")) {
            guard process.isRunning, Date().timeIntervalSince(start) < 30 else {
                if process.isRunning { process.interrupt() }
                process.waitUntilExit()
                throw ArcaError(.io, "the volume server did not start: \(errors)")
            }
            usleep(5_000)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + deadline, execute: watchdog)
    }

    var errors: String { String(decoding: (try? FileSystem.readFile(stderrPath, limit: 1 << 20)) ?? [], as: UTF8.self) }

    /// SIGKILL, wait for the exit, detach the dead mount.
    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        finish()
    }

    /// SIGTERM (the server commits and unmounts); SIGKILL after 30 s.
    func stop() {
        if process.isRunning { process.terminate() }
        let start = Date()
        while process.isRunning, Date().timeIntervalSince(start) < 30 { usleep(5_000) }
        kill()
    }

    private func finish() {
        process.waitUntilExit()
        watchdog.cancel()
        if let connection = try? FUSEConnection.find(mountpoint: mountpoint) {
            try? connection.abort()
            umount2(mountpoint, Int32(MNT_DETACH))
        }
    }
}
