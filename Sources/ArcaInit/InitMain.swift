import ArcaCore
import ArcaOS

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The body of `arca-init`'s `main`: returns the exit status.
public enum InitMain {
    /// Exit status for a command-line error (as sysexits' EX_USAGE-style tools use 2).
    public static let usageStatus: Int32 = 2

    /// The arguments after the program name, from C's `argc`/`argv`.
    public static func arguments(count: Int32, vector: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> [String] {
        guard count > 1 else { return [] }
        return (1..<Int(count)).compactMap { index in vector[index].map { String(cString: $0) } }
    }

    /// Runs the command line `arguments` (without the program name).
    public static func run(arguments: [String]) -> Int32 {
        do {
            switch try InitCommandLine.parse(arguments) {
            case .start(let hostArguments):
                return start(hostArguments)
            case .version:
                return writeAll(1, InitVersion.line + "\n") ? 0 : 1
            case .help:
                return writeAll(1, InitCommandLine.usage) ? 0 : 1
            }
        } catch {
            _ = writeAll(2, "arca-init: \(error)\n")
            return usageStatus
        }
    }

    /// The start sequence as PID 1: signals blocked before any thread exists, then attest, mount,
    /// pivot and supervise. Any failure is reported with its reason and a non-zero status.
    static func start(_ hostArguments: [String]) -> Int32 {
        ServiceSupervisor.blockSignals()
        let log: @Sendable (String) -> Void = { _ = writeAll(2, $0 + "\n") }
        do {
            let sequence = StartSequence(environment: processEnvironment(), releaser: KeeperReleaser(log: log), log: log)
            return try sequence.run(hostArguments: hostArguments)
        } catch {
            log("arca-init: \(error)")
            return 1
        }
    }

    /// Writes to a descriptor with write(2), retrying short writes and EINTR: PID 1 must not
    /// depend on stdio buffering being flushed at exit.
    static func writeAll(_ fd: Int32, _ text: String) -> Bool {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return true }
            var done = 0
            while done < buffer.count {
                let n = write(fd, base + done, buffer.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                done += n
            }
            return true
        }
    }
}
