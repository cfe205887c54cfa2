import FoundationEssentials

/// A kind of attestation evidence. `sim` is software-only; the others come from TEE hardware.
public struct EvidenceKind: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    public static let sim = EvidenceKind(rawValue: "sim")
    public static let sgx = EvidenceKind(rawValue: "sgx")
    public static let tdx = EvidenceKind(rawValue: "tdx")
    public static let snp = EvidenceKind(rawValue: "snp")
}

/// What a verifier established about one piece of evidence. The keeper matches it against the
/// session's policy (measurements, debug, TCB tolerances) and checks `reportData` against the
/// nonce, the runtime's ephemeral key and the Arca measurement.
public struct VerifiedEvidence: Sendable, Equatable {
    public var kind: EvidenceKind
    /// The 64 bytes (or fewer, for `sim`) the runtime bound into the evidence.
    public var reportData: [UInt8]
    /// Measurement fields by their name in the evidence kind (`arca`, `mrenclave`, `mrsigner`,
    /// `isvprodid`, `isvsvn`, `mrtd`, `rtmr0`…, `measurement`, `host_data`…), as lowercase hex or decimal.
    public var measurements: [String: String]
    /// True for a debug enclave or guest.
    public var debug: Bool
    /// The TCB status (`UpToDate`, `OutOfDate`, …); nil where the kind has none (`sim`).
    public var tcbStatus: String?
    /// Security advisory IDs that apply to the platform's TCB level.
    public var advisories: [String]
    /// Who vouched for the evidence: a root fingerprint, or the registered `sim` platform key.
    public var platform: String

    public init(kind: EvidenceKind, reportData: [UInt8], measurements: [String: String], debug: Bool,
                tcbStatus: String?, advisories: [String], platform: String) {
        self.kind = kind
        self.reportData = reportData
        self.measurements = measurements
        self.debug = debug
        self.tcbStatus = tcbStatus
        self.advisories = advisories
        self.platform = platform
    }
}

/// Verifies one kind of evidence. Verifiers are pure: the verification time is a parameter,
/// never read from the clock inside, and collateral comes from the caller.
public protocol EvidenceVerifier: Sendable {
    var kind: EvidenceKind { get }
    /// Throws an `ArcaError` whose message names the first check that failed.
    func verify(_ evidence: [UInt8], at time: Date) throws -> VerifiedEvidence
}
