import ArcaAttestation
import ArcaCore
import ArcaKeeperAPI
import ArcaKeeperLink

/// Attests to the keeper over the pinned HTTPS link with the evidence this machine can give
/// (`ARCA_EVIDENCE=auto|sim|tsm|gramine`; `auto` prefers hardware) and returns the release.
public struct KeeperReleaser: ServiceReleaser {
    public var evidenceMode: String?
    public var log: @Sendable (String) -> Void

    public init(evidenceMode: String? = environmentValue("ARCA_EVIDENCE"), log: @escaping @Sendable (String) -> Void) {
        self.evidenceMode = evidenceMode
        self.log = log
    }

    public func release(keeperURL: String, pin: String, session: String, measurement: String) throws -> ReleasePayload {
        guard let measurementBytes = Hex.decode(measurement), measurementBytes.count == 32 else {
            throw ArcaError(.invalidFormat, "measurement \(measurement) is not 64 hex digits")
        }
        // Whether sim is acceptable is the session's decision, taken by the keeper; here it is only
        // the fallback when the machine has no TEE interface.
        let selection = try EvidenceSelection.select(mode: evidenceMode, allowSim: true)
        let provider: any EvidenceProvider
        if let hardware = selection.hardwareProvider() {
            provider = hardware
        } else {
            log("arca-init: WARNING: sim evidence — no hardware protection; the host's root can read this service's memory")
            provider = try SimEvidenceProvider.fromEnvironment(measurement: measurementBytes)
        }
        return try KeeperLink.attest(keeper: KeeperAddress(url: keeperURL), pin: pin, session: session, service: "main",
                                     measurement: measurementBytes, evidenceProvider: provider)
    }
}
