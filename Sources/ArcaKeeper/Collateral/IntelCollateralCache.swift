import ArcaAttestation
import ArcaCore
import FoundationEssentials

/// Where the keeper gets Intel collateral for one (kind, FMSPC, PCK CA): imported collateral
/// first (files in the data directory or `--collateral`), then what it fetched from the PCCS
/// before, then the PCCS. Only collateral that validates against the pinned Intel root, is
/// current at the verification time and is the collateral asked for is ever cached, so a hostile
/// or broken PCCS answer costs one failed release and nothing more.
public actor IntelCollateralCache {
    struct Key: Hashable { var kind: EvidenceKind; var fmspc: String; var ca: IntelCollateral.PCKCertificateAuthority }
    struct Entry { var collateral: IntelCollateral; var expires: Date }

    public let imported: [IntelCollateral]
    public let pccs: PCCSClient?
    public let pinnedRoots: Set<String>
    /// Fetched collateral is refetched after this long even when Intel says it is current
    /// (TCB recoveries publish new TCB Info before `nextUpdate`).
    public let maximumAge: Double
    private var entries: [Key: Entry] = [:]

    public init(imported: [IntelCollateral], pccs: PCCSClient?, pinnedRoots: Set<String> = [DCAPVerifier.intelRootFingerprint],
                maximumAge: Double = 24 * 3600) {
        self.imported = imported
        self.pccs = pccs
        self.pinnedRoots = pinnedRoots
        self.maximumAge = maximumAge
    }

    /// How many fetched collateral sets are cached (for tests and metrics).
    public var cachedCount: Int { entries.count }

    /// Collateral for a quote of `kind` whose PCK certificate has `fmspc` and was issued by `ca`,
    /// current at `time`. Throws an `ArcaError` saying what is missing or wrong.
    public func collateral(kind: EvidenceKind, fmspc: String, ca: IntelCollateral.PCKCertificateAuthority,
                           at time: Date) async throws -> IntelCollateral {
        let key = Key(kind: kind, fmspc: fmspc.lowercased(), ca: ca)
        var firstProblem: ArcaError?
        for candidate in imported where (try? candidate.fmspc()) == key.fmspc {
            do {
                _ = try candidate.validate(kind: kind, fmspc: key.fmspc, ca: ca, at: time, pinnedRoots: pinnedRoots)
                return candidate
            } catch let error as ArcaError {
                firstProblem = firstProblem ?? error
            }
        }
        if let entry = entries[key] {
            if time < entry.expires { return entry.collateral }
            entries[key] = nil
        }
        guard let pccs else {
            if let firstProblem {
                throw ArcaError(firstProblem.code, "imported collateral for fmspc \(key.fmspc): \(firstProblem.message)", cause: firstProblem.cause)
            }
            throw ArcaError(.notFound, "no \(kind) collateral for fmspc \(key.fmspc) (\(ca.rawValue) CA) was imported and no pccs is configured; "
                                       + "run `arca keeper collateral import DIR` or start the keeper with --pccs URL")
        }
        let fetched = try await pccs.fetch(kind: kind, fmspc: key.fmspc, ca: ca)
        let validated: IntelCollateral.Validated
        do {
            validated = try fetched.validate(kind: kind, fmspc: key.fmspc, ca: ca, at: time, pinnedRoots: pinnedRoots)
        } catch let error as ArcaError {
            throw ArcaError(error.code, "collateral from pccs \(pccs.baseURL) for fmspc \(key.fmspc) is refused: \(error.message)", cause: error.cause)
        }
        entries[key] = Entry(collateral: fetched, expires: min(validated.nextUpdate, time.addingTimeInterval(maximumAge)))
        return fetched
    }
}
