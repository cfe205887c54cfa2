import ArcaCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Linux's configfs-tsm report interface (`/sys/kernel/config/tsm/report`), which the TDX and
/// SEV-SNP guest drivers implement: make an entry, write `inblob`, read `outblob` (the TD
/// quote or SNP report) and, for SNP, `auxblob` (the certificate table). `generation` counts
/// writes to the entry; reading it before and after `outblob` detects a concurrent writer.
public struct ConfigFSTSMProvider: EvidenceProvider {
    public static let defaultRoot = "/sys/kernel/config/tsm/report"
    public let root: String
    public let entryName: String

    /// `entryName` defaults to one per process; the entry is removed after use.
    public init(root: String = ConfigFSTSMProvider.defaultRoot, entryName: String? = nil) {
        self.root = root
        self.entryName = entryName ?? "arca-\(getpid())"
    }

    public func kind() throws -> EvidenceKind {
        try withEntry { entry in try Self.kind(provider: try PseudoFile.readText(entry + "/provider")) }
    }

    static func kind(provider: String) throws -> EvidenceKind {
        switch provider {
        case "sev_guest": return .snp
        case "tdx_guest": return .tdx
        default: throw ArcaError(.unsupported, "configfs-tsm provider '\(provider)' is not sev_guest or tdx_guest")
        }
    }

    public func evidence(reportData: [UInt8]) throws -> [UInt8] {
        try checkReportData(reportData)
        return try withEntry { entry in
            let kind = try Self.kind(provider: try PseudoFile.readText(entry + "/provider"))
            try PseudoFile.writeAll(reportData, to: entry + "/inblob")
            let before = try generation(entry)
            let outblob = try PseudoFile.read(entry + "/outblob")
            let auxblob = kind == .snp && FileSystem.exists(entry + "/auxblob") ? try PseudoFile.read(entry + "/auxblob") : []
            let after = try generation(entry)
            guard before == after else {
                throw ArcaError(.io, "configfs-tsm entry \(entry) changed while reading (generation \(before) -> \(after)): another process wrote to it; retry")
            }
            guard !outblob.isEmpty else { throw ArcaError(.io, "configfs-tsm entry \(entry) returned an empty outblob") }
            return outblob + auxblob
        }
    }

    private func generation(_ entry: String) throws -> UInt64 {
        let text = try PseudoFile.readText(entry + "/generation")
        guard let value = UInt64(text) else {
            throw ArcaError(.invalidFormat, "configfs-tsm \(entry)/generation is '\(text.prefix(20))', not a number")
        }
        return value
    }

    private func withEntry<T>(_ body: (String) throws -> T) throws -> T {
        guard FileSystem.isDirectory(root) else {
            throw ArcaError(.notFound, "configfs-tsm is not available: \(root) does not exist (needs Linux 6.7+ in a TDX or SEV-SNP guest, with configfs mounted)")
        }
        let entry = root + "/" + entryName
        // configfs creates the attribute files on mkdir; an existing entry of ours is reused.
        if mkdir(entry, 0o700) != 0, errno != EEXIST {
            throw ArcaError(.io, "cannot create configfs-tsm entry \(entry): \(String(cString: strerror(errno)))")
        }
        defer { rmdir(entry) }
        return try body(entry)
    }
}
