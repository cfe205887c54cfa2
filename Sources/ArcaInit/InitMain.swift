import ArcaCore

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
