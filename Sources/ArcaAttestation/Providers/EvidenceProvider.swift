import ArcaCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Produces evidence inside the TEE: the runtime (`arca-init`) asks for evidence that binds
/// 64 bytes of report data (see `ReportDataBinding`) and sends it to the keeper.
public protocol EvidenceProvider: Sendable {
    /// The kind of evidence this provider produces.
    func kind() throws -> EvidenceKind
    /// Evidence whose signed report data is `reportData` (exactly 64 bytes).
    func evidence(reportData: [UInt8]) throws -> [UInt8]
}

/// Small file helpers for kernel pseudo-files (configfs, Gramine's /dev/attestation), where
/// writes must go to the existing file in one `write` and nothing may be renamed or truncated.
enum PseudoFile {
    static let readLimit = 1 << 20

    static func writeAll(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ArcaError(.io, "cannot open \(path) for writing: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { buffer -> Int in
            var result: Int
            repeat { result = write(fd, buffer.baseAddress, buffer.count) } while result < 0 && errno == EINTR
            return result
        }
        guard written == bytes.count else {
            throw ArcaError(.io, "cannot write \(bytes.count) bytes to \(path): \(written < 0 ? String(cString: strerror(errno)) : "short write of \(written)")")
        }
    }

    static func read(_ path: String) throws -> [UInt8] {
        try FileSystem.readFile(path, limit: readLimit)
    }

    static func readText(_ path: String) throws -> String {
        String(decoding: try read(path), as: UTF8.self).trimmingCharacters(in: " \n\t\0")
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        var slice = Substring(self)
        while let first = slice.first, characters.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, characters.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}

func checkReportData(_ reportData: [UInt8]) throws {
    guard reportData.count == 64 else {
        throw ArcaError(.invalidArgument, "report data is \(reportData.count) bytes; TEE report data is exactly 64 bytes")
    }
}
