import ArcaAttestation
import ArcaCore
import FoundationEssentials

/// The keeper's offline collateral store: `DATA/collateral/` in the layout `CollateralDirectory`
/// reads, filled by `arca keeper collateral import DIR` and loaded by `arca keeper serve`.
/// Intel collateral is stored normalised, one dcap-qvl JSON per kind, FMSPC and PCK CA
/// (`intel/tdx-50806f000000-platform.json`), so a newer import replaces the older set;
/// AMD certificates are stored as DER named by fingerprint.
public enum KeeperCollateral {
    /// What one import did.
    public struct ImportSummary: Sendable, Equatable {
        /// Stored file names relative to the collateral directory.
        public var intel: [String] = []
        public var amd: [String] = []
    }

    public static func directory(data: String) -> String { data + "/collateral" }

    /// Checks every file of `source` and copies it into the data directory. Nothing is written
    /// unless every file passes: a bad file is refused by name. Intel collateral must be signed
    /// through the pinned Intel root, checked at the time Intel issued it (its freshness is
    /// checked again at every verification, so old collateral may be imported but never makes a
    /// stale TCB pass).
    public static func importDirectory(_ source: String, data: String,
                                       pinnedRoots: Set<String> = [DCAPVerifier.intelRootFingerprint]) throws -> ImportSummary {
        let loaded = try CollateralDirectory.load(source)
        var files: [(name: String, bytes: [UInt8])] = []
        for (collateral, path) in zip(loaded.intel, loaded.intelSources) {
            do {
                let info = try collateral.tcbInfo.decodedTCBInfo()
                let kind: EvidenceKind = info.id == "TDX" ? .tdx : .sgx
                let issued = try AttestationTime.parse(info.issueDate)
                _ = try collateral.validate(kind: kind, fmspc: nil, ca: nil, at: issued, pinnedRoots: pinnedRoots, checkFreshness: false)
                let ca = try IntelCollateral.PCKCertificateAuthority(commonName: collateral.pckCRLIssuerChain[0].subjectCommonName)
                files.append(("intel/\(kind)-\(info.fmspc.lowercased())-\(ca.rawValue).json", try collateral.qvlJSON()))
            } catch let error as ArcaError {
                throw ArcaError(error.code, "collateral \(path) is refused: \(error.message)", cause: error.cause)
            }
        }
        for certificate in loaded.snp.authorities + loaded.snp.endorsementKeys {
            files.append(("amd/\(certificate.fingerprint).der", certificate.der))
        }
        let target = directory(data: data)
        try FileSystem.makeDirectories(target + "/intel", permissions: 0o700)
        try FileSystem.makeDirectories(target + "/amd", permissions: 0o700)
        var summary = ImportSummary()
        for file in files {
            try FileSystem.writeAtomically(file.bytes, to: target + "/" + file.name)
            if file.name.hasPrefix("intel/") { summary.intel.append(file.name) } else { summary.amd.append(file.name) }
        }
        return summary
    }

    /// The imported collateral of a data directory merged with an extra directory (`--collateral`);
    /// empty when neither exists.
    public static func load(data: String, extra: String? = nil) throws -> CollateralDirectory {
        var result = CollateralDirectory()
        let imported = directory(data: data)
        let hasImported = ["/intel", "/amd"].contains { FileSystem.isDirectory(imported + $0) && !((try? FileSystem.listDirectory(imported + $0)) ?? []).isEmpty }
        for path in (hasImported ? [imported] : []) + (extra.map { [$0] } ?? []) {
            let loaded = try CollateralDirectory.load(path)
            result.intel += loaded.intel
            result.intelSources += loaded.intelSources
            result.snp.add(certificates: loaded.snp.authorities + loaded.snp.endorsementKeys)
        }
        return result
    }

    /// The hardware verifiers a keeper runs: SGX and TDX with collateral from `collateral` then
    /// `pccs`, SNP with the AMD certificates of `collateral` (and those in each report).
    public static func verifiers(collateral: CollateralDirectory, pccs: PCCSClient?) -> [any EvidenceVerifier] {
        let cache = IntelCollateralCache(imported: collateral.intel, pccs: pccs)
        return [CachedCollateralDCAPVerifier(kind: .sgx, cache: cache), CachedCollateralDCAPVerifier(kind: .tdx, cache: cache),
                SNPVerifier(collateral: collateral.snp)]
    }
}
