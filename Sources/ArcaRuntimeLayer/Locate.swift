import ArcaCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension RuntimeLayer {
    /// The `arca-init` binary to ship: `$ARCA_INIT` if set, else `arca-init` in the directory of
    /// the running executable (`/proc/self/exe`), where SwiftPM and the install put it.
    public static func locateArcaInit(override: String? = environmentValue("ARCA_INIT"),
                                      executable: String? = nil) throws -> String {
        if let override, !override.isEmpty {
            guard isExecutableFile(override) else {
                throw ArcaError(.notFound, "ARCA_INIT is \(override), which is not an executable file")
            }
            return override
        }
        let running = try executable ?? currentExecutable()
        let directory = running.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let candidate = directory + "/arca-init"
        guard isExecutableFile(candidate) else {
            throw ArcaError(.notFound, "no arca-init next to \(running) (looked for \(candidate)); build it with `swift build --product arca-init` or set ARCA_INIT to its path")
        }
        return candidate
    }

    /// The resolved path of the running executable.
    static func currentExecutable() throws -> String {
        var buffer = [CChar](repeating: 0, count: 4097)
        let count = readlink("/proc/self/exe", &buffer, 4096)
        guard count > 0 else {
            throw ArcaError(.io, "cannot read /proc/self/exe to find arca-init; set ARCA_INIT to its path")
        }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func isExecutableFile(_ path: String) -> Bool {
        !FileSystem.isDirectory(path) && access(path, X_OK) == 0
    }
}
