import ArcaAttestation
import ArcaCore
import ArcaKeeper
import ArgumentParser

/// `arca keeper collateral import DIR`: offline attestation collateral for the keeper.
struct KeeperCollateralCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collateral",
        abstract: "Import Intel and AMD attestation collateral so the keeper verifies SGX, TDX and SNP evidence offline.",
        subcommands: [KeeperCollateralImportCommand.self])
}

struct KeeperCollateralImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Check collateral files and copy them into the keeper's data directory.",
        discussion: """
            DIR holds intel/ and amd/ as `arca evidence verify --collateral` reads them: intel/NAME.json \
            (dcap-qvl QuoteCollateralV3 JSON) or intel/NAME/ (one PCS download: tcb_info.json, \
            tcb_info_issuer_chain.pem, qe_identity.json, [qe_identity_issuer_chain.pem], pck_crl.der, \
            pck_crl_issuer_chain.pem, root_ca_crl.der), and amd/*.pem|*.der (ASK/ASVK + ARK chains, VCEK/VLEK). \
            Every Intel document must be signed through the pinned Intel SGX Root CA; nothing is imported \
            if one file is bad. Freshness is checked at each verification, so re-import (or use --pccs) \
            before the collateral's nextUpdate. Restart the keeper to use the new files.
            """)

    @Argument(help: "The collateral directory (intel/, amd/).")
    var directory: String

    @OptionGroup var store: KeeperStoreOptions

    func run() async throws {
        let summary = try KeeperCollateral.importDirectory(directory, data: store.data)
        let target = KeeperCollateral.directory(data: store.data)
        for name in summary.intel + summary.amd { print("imported \(target)/\(name)") }
        print("\(summary.intel.count) intel collateral set(s), \(summary.amd.count) amd certificate(s) in \(target)")
    }
}
