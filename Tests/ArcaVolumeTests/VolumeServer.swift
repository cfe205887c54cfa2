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
    // @unchecked: `process` is only used from the test's thread; the watchdog only aborts.
    let process: ChildProcess
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
        unlink(out)
        let mountpoint = self.mountpoint
        watchdog = DispatchWorkItem { try? FUSEConnection.find(mountpoint: mountpoint).abort() }
        process = try ChildProcess([Self.executable, directory + "/host", mountpoint, directory + "/key", directory + "/anchor"],
                                   stdout: out, stderr: stderrPath)
        let start = Date()
        while !(String(decoding: (try? FileSystem.readFile(out, limit: 4096)) ?? [], as: UTF8.self).contains("ready")) {
            guard process.isRunning, Date().timeIntervalSince(start) < 30 else {
                process.signal(SIGKILL)
                process.wait()
                umount2(mountpoint, Int32(MNT_DETACH))  // in case it died mounted
                throw ArcaError(.io, "the volume server did not start: \(errors)")
            }
            usleep(5_000)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + deadline, execute: watchdog)
    }

    var errors: String { String(decoding: (try? FileSystem.readFile(stderrPath, limit: 1 << 20)) ?? [], as: UTF8.self) }

    /// SIGKILL, wait for the exit, detach the dead mount.
    func kill() {
        process.signal(SIGKILL)
        finish()
    }

    /// SIGTERM (the server commits and unmounts); SIGKILL after 30 s.
    func stop() {
        process.signal(SIGTERM)
        process.wait(timeout: 30)
        kill()
    }

    private func finish() {
        process.wait()
        watchdog.cancel()
        if let connection = try? FUSEConnection.find(mountpoint: mountpoint) {
            try? connection.abort()
            umount2(mountpoint, Int32(MNT_DETACH))
        }
    }
}
