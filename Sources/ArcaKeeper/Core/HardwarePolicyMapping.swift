import ArcaAttestation
import ArcaSession

/// Builds the attestation library's `EvidencePolicy` from a session's `security` section:
/// `tolerate` lists `debug`, accepted TCB statuses and tolerated advisories in one place.
enum HardwarePolicyMapping {
    static func policy(_ security: Security) -> EvidencePolicy {
        let tolerate = Set(security.tolerate)
        return EvidencePolicy(
            allowDebug: tolerate.contains("debug"),
            acceptedTCBStatuses: tolerate.union([TCBStatus.upToDate]),
            toleratedAdvisories: tolerate,
            sgx: security.sgx.map {
                EvidencePolicy.SGX(mrenclave: $0.mrenclave, mrsigner: $0.mrsigner, isvprodid: $0.isvprodid, minimumISVSVN: $0.minimumISVSVN)
            },
            tdx: security.tdx.map { EvidencePolicy.TDX(mrtd: $0.mrtd, rtmr: $0.rtmr, mrconfigid: $0.mrconfigid, mrowner: $0.mrowner) },
            snp: security.snp.map {
                EvidencePolicy.SNP(measurement: $0.measurement, hostData: $0.hostData, forbiddenPolicyBits: $0.forbiddenPolicyBits ?? 0,
                                   vmpl: $0.vmpl, minimumGuestSVN: $0.minimumGuestSVN, minimumTCB: $0.minimumTCB,
                                   signingKeys: Set($0.signingKeys ?? ["vcek", "vlek"]))
            })
    }
}
