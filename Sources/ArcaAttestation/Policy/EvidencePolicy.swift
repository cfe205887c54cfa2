import ArcaCore

/// What a session accepts from hardware evidence, per kind. The keeper stores one with each
/// session and calls `check` on every `VerifiedEvidence`; the first unmet rule is the error.
public struct EvidencePolicy: Sendable, Codable, Equatable {
    /// Debug enclaves/guests expose their memory to the host: refused unless set.
    public var allowDebug: Bool
    /// TCB statuses accepted (Intel). Anything else, including no status at all, is refused.
    public var acceptedTCBStatuses: Set<String>
    /// Advisory IDs tolerated; evidence with any other advisory is refused.
    public var toleratedAdvisories: Set<String>
    public var sgx: SGX?
    public var tdx: TDX?
    public var snp: SNP?

    /// SGX: MRENCLAVE (any of), or MRSIGNER + ISVPRODID + minimum ISVSVN.
    public struct SGX: Sendable, Codable, Equatable {
        public var mrenclave: [String]?
        public var mrsigner: String?
        public var isvprodid: UInt16?
        public var minimumISVSVN: UInt16?
        public init(mrenclave: [String]? = nil, mrsigner: String? = nil, isvprodid: UInt16? = nil, minimumISVSVN: UInt16? = nil) {
            self.mrenclave = mrenclave; self.mrsigner = mrsigner; self.isvprodid = isvprodid; self.minimumISVSVN = minimumISVSVN
        }
    }

    /// TDX: MRTD (any of), RTMRs by name (`rtmr0` … `rtmr3`), MRCONFIGID, MROWNER.
    public struct TDX: Sendable, Codable, Equatable {
        public var mrtd: [String]?
        public var rtmr: [String: String]?
        public var mrconfigid: String?
        public var mrowner: String?
        public init(mrtd: [String]? = nil, rtmr: [String: String]? = nil, mrconfigid: String? = nil, mrowner: String? = nil) {
            self.mrtd = mrtd; self.rtmr = rtmr; self.mrconfigid = mrconfigid; self.mrowner = mrowner
        }
    }

    /// SNP: MEASUREMENT (any of), HOST_DATA, policy bits that must be clear, VMPL, minimum TCB and guest SVN, key kinds.
    public struct SNP: Sendable, Codable, Equatable {
        public var measurement: [String]?
        public var hostData: String?
        /// POLICY bits that must be 0 (besides DEBUG, which `allowDebug` governs), e.g. 1 << 18 (MIGRATE_MA).
        public var forbiddenPolicyBits: UInt64
        public var vmpl: UInt32?
        public var minimumGuestSVN: UInt32?
        /// Minimum reported TCB: boot loader, TEE, SNP firmware, microcode (and FMC on Turin).
        public var minimumTCB: [String: UInt8]?
        /// `vcek`, `vlek`: which endorsement keys are accepted.
        public var signingKeys: Set<String>
        public init(measurement: [String]? = nil, hostData: String? = nil, forbiddenPolicyBits: UInt64 = 0, vmpl: UInt32? = nil,
                    minimumGuestSVN: UInt32? = nil, minimumTCB: [String: UInt8]? = nil, signingKeys: Set<String> = ["vcek", "vlek"]) {
            self.measurement = measurement; self.hostData = hostData; self.forbiddenPolicyBits = forbiddenPolicyBits
            self.vmpl = vmpl; self.minimumGuestSVN = minimumGuestSVN; self.minimumTCB = minimumTCB; self.signingKeys = signingKeys
        }
    }

    public init(allowDebug: Bool = false, acceptedTCBStatuses: Set<String> = [TCBStatus.upToDate],
                toleratedAdvisories: Set<String> = [], sgx: SGX? = nil, tdx: TDX? = nil, snp: SNP? = nil) {
        self.allowDebug = allowDebug
        self.acceptedTCBStatuses = acceptedTCBStatuses
        self.toleratedAdvisories = toleratedAdvisories
        self.sgx = sgx; self.tdx = tdx; self.snp = snp
    }

    /// Throws `ArcaError(.policyRejected)` naming the first rule `evidence` breaks.
    public func check(_ evidence: VerifiedEvidence) throws {
        func reject(_ message: String) -> ArcaError { ArcaError(.policyRejected, message) }
        let m = evidence.measurements
        func field(_ name: String) -> String { m[name] ?? "" }
        if evidence.debug, !allowDebug {
            throw reject("\(evidence.kind) evidence comes from a debug \(evidence.kind == .snp ? "guest" : "enclave or TD"), and the policy refuses debug")
        }
        switch evidence.kind {
        case .sgx, .tdx:
            guard let status = evidence.tcbStatus else {
                throw reject("\(evidence.kind) evidence has no TCB status (verified without collateral); the policy needs one")
            }
            guard acceptedTCBStatuses.contains(status) else {
                throw reject("TCB status \(status) is not accepted (accepted: \(acceptedTCBStatuses.sorted().joined(separator: ", ")))")
            }
            if let advisory = evidence.advisories.first(where: { !toleratedAdvisories.contains($0) }) {
                throw reject("advisory \(advisory) applies to the platform and is not in the tolerated list")
            }
        default:
            break
        }
        switch evidence.kind {
        case .sgx:
            guard let sgx else { throw reject("the policy has no SGX section") }
            if let allowed = sgx.mrenclave, !allowed.map({ $0.lowercased() }).contains(field("mrenclave")) {
                throw reject("MRENCLAVE \(field("mrenclave")) is not one the policy allows")
            }
            if let signer = sgx.mrsigner, signer.lowercased() != field("mrsigner") {
                throw reject("MRSIGNER \(field("mrsigner")) is not the policy's \(signer)")
            }
            if let product = sgx.isvprodid, String(product) != field("isvprodid") {
                throw reject("ISVPRODID \(field("isvprodid")) is not the policy's \(product)")
            }
            if let minimum = sgx.minimumISVSVN, (UInt16(field("isvsvn")) ?? 0) < minimum {
                throw reject("ISVSVN \(field("isvsvn")) is below the policy's minimum \(minimum)")
            }
            if sgx.mrenclave == nil, sgx.mrsigner == nil { throw reject("the SGX policy pins neither MRENCLAVE nor MRSIGNER") }
        case .tdx:
            guard let tdx else { throw reject("the policy has no TDX section") }
            if let allowed = tdx.mrtd, !allowed.map({ $0.lowercased() }).contains(field("mrtd")) {
                throw reject("MRTD \(field("mrtd")) is not one the policy allows")
            }
            for (name, value) in (tdx.rtmr ?? [:]).sorted(by: { $0.key < $1.key }) {
                guard ["rtmr0", "rtmr1", "rtmr2", "rtmr3"].contains(name) else {
                    throw reject("the TDX policy names '\(name)'; RTMRs are rtmr0 … rtmr3")
                }
                if value.lowercased() != field(name) {
                    throw reject("\(name.uppercased()) \(field(name)) is not the policy's \(value)")
                }
            }
            if let config = tdx.mrconfigid, config.lowercased() != field("mrconfigid") {
                throw reject("MRCONFIGID \(field("mrconfigid")) is not the policy's \(config)")
            }
            if let owner = tdx.mrowner, owner.lowercased() != field("mrowner") {
                throw reject("MROWNER \(field("mrowner")) is not the policy's \(owner)")
            }
            if tdx.mrtd == nil { throw reject("the TDX policy does not pin MRTD") }
        case .snp:
            guard let snp else { throw reject("the policy has no SNP section") }
            guard let allowed = snp.measurement else { throw reject("the SNP policy does not pin MEASUREMENT") }
            if !allowed.map({ $0.lowercased() }).contains(field("measurement")) {
                throw reject("SNP MEASUREMENT \(field("measurement")) is not one the policy allows")
            }
            if let host = snp.hostData, host.lowercased() != field("host_data") {
                throw reject("SNP HOST_DATA \(field("host_data")) is not the policy's \(host)")
            }
            let policyBits = UInt64(field("policy").dropFirst(2), radix: 16) ?? 0
            if policyBits & snp.forbiddenPolicyBits != 0 {
                throw reject("SNP guest policy 0x\(String(policyBits, radix: 16)) sets bits the policy forbids (0x\(String(policyBits & snp.forbiddenPolicyBits, radix: 16)))")
            }
            if let vmpl = snp.vmpl, String(vmpl) != field("vmpl") {
                throw reject("SNP report is from VMPL \(field("vmpl")), the policy expects VMPL \(vmpl)")
            }
            if let minimum = snp.minimumGuestSVN, (UInt32(field("guest_svn")) ?? 0) < minimum {
                throw reject("SNP GUEST_SVN \(field("guest_svn")) is below the policy's minimum \(minimum)")
            }
            for (component, minimum) in (snp.minimumTCB ?? [:]).sorted(by: { $0.key < $1.key }) {
                guard let value = m["tcb_\(component)"].flatMap({ UInt8($0) }) else {
                    throw reject("SNP reported TCB has no component '\(component)' (known: bootloader, tee, snp, microcode, fmc)")
                }
                if value < minimum { throw reject("SNP reported TCB \(component) \(value) is below the policy's minimum \(minimum)") }
            }
            if !snp.signingKeys.contains(field("signing_key")) {
                throw reject("SNP report is signed by a \(field("signing_key").uppercased()), which the policy does not accept")
            }
        default:
            throw reject("evidence kind \(evidence.kind) is not a hardware kind this policy checks")
        }
    }
}
