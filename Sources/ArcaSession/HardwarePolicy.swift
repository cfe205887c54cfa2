/// Per-kind pins for hardware evidence (the TEE's own measurements, which vouch that the code
/// computing the report data is Arca's runtime). Mirrors `ArcaAttestation.EvidencePolicy`, with
/// arrays instead of sets so that the session's canonical form stays deterministic.
public struct SGXPolicy: Codable, Sendable, Equatable {
    public var mrenclave: [String]?
    public var mrsigner: String?
    public var isvprodid: UInt16?
    public var minimumISVSVN: UInt16?
    public init(mrenclave: [String]? = nil, mrsigner: String? = nil, isvprodid: UInt16? = nil, minimumISVSVN: UInt16? = nil) {
        self.mrenclave = mrenclave
        self.mrsigner = mrsigner
        self.isvprodid = isvprodid
        self.minimumISVSVN = minimumISVSVN
    }
}

public struct TDXPolicy: Codable, Sendable, Equatable {
    public var mrtd: [String]?
    /// `rtmr0` … `rtmr3` → hex.
    public var rtmr: [String: String]?
    public var mrconfigid: String?
    public var mrowner: String?
    public init(mrtd: [String]? = nil, rtmr: [String: String]? = nil, mrconfigid: String? = nil, mrowner: String? = nil) {
        self.mrtd = mrtd
        self.rtmr = rtmr
        self.mrconfigid = mrconfigid
        self.mrowner = mrowner
    }
}

public struct SNPPolicy: Codable, Sendable, Equatable {
    public var measurement: [String]?
    public var hostData: String?
    public var forbiddenPolicyBits: UInt64?
    public var vmpl: UInt32?
    public var minimumGuestSVN: UInt32?
    /// `bootloader`, `tee`, `snp`, `microcode`, `fmc` → minimum.
    public var minimumTCB: [String: UInt8]?
    /// `vcek`, `vlek` (default: both).
    public var signingKeys: [String]?
    public init(measurement: [String]? = nil, hostData: String? = nil, forbiddenPolicyBits: UInt64? = nil, vmpl: UInt32? = nil,
                minimumGuestSVN: UInt32? = nil, minimumTCB: [String: UInt8]? = nil, signingKeys: [String]? = nil) {
        self.measurement = measurement
        self.hostData = hostData
        self.forbiddenPolicyBits = forbiddenPolicyBits
        self.vmpl = vmpl
        self.minimumGuestSVN = minimumGuestSVN
        self.minimumTCB = minimumTCB
        self.signingKeys = signingKeys
    }
}
