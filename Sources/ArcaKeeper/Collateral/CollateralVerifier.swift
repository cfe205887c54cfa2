import ArcaAttestation
import ArcaCore
import FoundationEssentials

/// A verifier that may need to fetch something (collateral) before it can decide. The keeper's
/// release path prefers this method over the synchronous `verify`.
public protocol CollateralFetchingVerifier: EvidenceVerifier {
    func verifyFetchingCollateral(_ evidence: [UInt8], at time: Date) async throws -> VerifiedEvidence
}

/// SGX or TDX verification with collateral from an `IntelCollateralCache` (imported files, then a
/// PCCS). The quote is checked cryptographically up to the pinned Intel root *before* anything is
/// fetched, so a forged quote cannot make the keeper query the PCCS for arbitrary FMSPCs.
public struct CachedCollateralDCAPVerifier: CollateralFetchingVerifier {
    public let kind: EvidenceKind
    public let cache: IntelCollateralCache

    public init(kind: EvidenceKind, cache: IntelCollateralCache) {
        self.kind = kind
        self.cache = cache
    }

    /// Offline: imported collateral only.
    public func verify(_ evidence: [UInt8], at time: Date) throws -> VerifiedEvidence {
        try DCAPVerifier(kind: kind, collateral: cache.imported, pinnedRoots: cache.pinnedRoots).verify(evidence, at: time)
    }

    public func verifyFetchingCollateral(_ evidence: [UInt8], at time: Date) async throws -> VerifiedEvidence {
        let precheck = DCAPVerifier(kind: kind, collateral: [], requireCollateral: false, pinnedRoots: cache.pinnedRoots)
        let (evidence0, quote, _) = try precheck.verifyQuote(evidence, at: time)
        let chain = try PEMCertificates.parse(quote.pckChainPEM, what: "quote PCK certificate chain")
        let ca = try IntelCollateral.PCKCertificateAuthority(commonName: chain[1].subjectCommonName)
        guard let fmspc = evidence0.measurements["fmspc"] else {
            throw ArcaError(.invalidFormat, "PCK certificate carries no FMSPC")
        }
        let collateral = try await cache.collateral(kind: kind, fmspc: fmspc, ca: ca, at: time)
        return try DCAPVerifier(kind: kind, collateral: [collateral], pinnedRoots: cache.pinnedRoots).verify(evidence, at: time)
    }
}
