import ArcaCore

/// `ARCA_EVIDENCE=auto|sim|tsm|gramine`: which evidence provider the runtime uses.
public enum EvidenceSelection: Sendable, Equatable {
    /// The software platform key (no hardware protection); the caller builds the sim provider.
    case sim
    case tsm(root: String)
    case gramine(root: String)

    /// Picks a provider. `auto` prefers hardware: Gramine's `/dev/attestation`, then
    /// configfs-tsm, and falls back to `sim` only when `allowSim` (a session must allow sim
    /// explicitly). `systemRoot` prefixes every path so tests can use a fake tree.
    public static func select(mode: String?, systemRoot: String = "", allowSim: Bool) throws -> EvidenceSelection {
        let gramine = systemRoot + GramineProvider.defaultRoot
        let tsm = systemRoot + ConfigFSTSMProvider.defaultRoot
        switch (mode ?? "auto").lowercased() {
        case "auto", "":
            if FileSystem.exists(gramine + "/quote") { return .gramine(root: gramine) }
            if FileSystem.isDirectory(tsm) { return .tsm(root: tsm) }
            guard allowSim else {
                throw ArcaError(.notFound,
                                "no hardware evidence provider found (looked for \(gramine)/quote and \(tsm)) and sim evidence is not allowed; run in an SGX (Gramine), TDX or SEV-SNP guest, or allow sim explicitly")
            }
            return .sim
        case "sim":
            guard allowSim else {
                throw ArcaError(.invalidArgument, "ARCA_EVIDENCE=sim is refused: sim evidence has no hardware protection and is not allowed here")
            }
            return .sim
        case "tsm":
            guard FileSystem.isDirectory(tsm) else {
                throw ArcaError(.notFound, "ARCA_EVIDENCE=tsm but \(tsm) does not exist (needs Linux 6.7+ in a TDX or SEV-SNP guest)")
            }
            return .tsm(root: tsm)
        case "gramine":
            guard FileSystem.exists(gramine + "/quote") else {
                throw ArcaError(.notFound, "ARCA_EVIDENCE=gramine but \(gramine)/quote does not exist (run under Gramine-SGX with DCAP attestation)")
            }
            return .gramine(root: gramine)
        case let other:
            throw ArcaError(.invalidArgument, "ARCA_EVIDENCE='\(other)' is not one of auto, sim, tsm, gramine")
        }
    }

    /// The hardware provider for this selection; nil for `sim`.
    public func hardwareProvider() -> (any EvidenceProvider)? {
        switch self {
        case .sim: return nil
        case .tsm(let root): return ConfigFSTSMProvider(root: root)
        case .gramine(let root): return GramineProvider(root: root)
        }
    }
}
