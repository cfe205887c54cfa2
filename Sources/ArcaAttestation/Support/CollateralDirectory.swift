import ArcaCore

/// Collateral read from a directory (what `arca evidence verify --collateral DIR`,
/// `arca keeper serve --collateral DIR` and `arca keeper collateral import DIR` take). Layout:
///
///     DIR/intel/NAME.json            dcap-qvl QuoteCollateralV3 JSON, one per FMSPC
///     DIR/intel/NAME/                one PCS download per directory:
///         tcb_info.json              PCS body {"tcbInfo": {…}, "signature": "…"}
///         tcb_info_issuer_chain.pem  TCB-Info-Issuer-Chain header, URL-decoded
///         qe_identity.json           PCS body {"enclaveIdentity": {…}, "signature": "…"}
///         qe_identity_issuer_chain.pem   (optional; defaults to the TCB Info chain)
///         pck_crl.der                PCK CRL (DER)
///         pck_crl_issuer_chain.pem   SGX-PCK-CRL-Issuer-Chain header, URL-decoded
///         root_ca_crl.der            Intel SGX Root CA CRL (DER)
///     DIR/amd/*.pem, DIR/amd/*.der   ASK/ASVK + ARK chains, VCEK/VLEK certificates
///
/// Trust does not come from this directory: roots stay pinned by fingerprint in the verifiers.
public struct CollateralDirectory: Sendable {
    public var intel: [IntelCollateral]
    public var snp: SNPCollateral
    /// The file or directory each `intel` element came from (same order), for error messages.
    public var intelSources: [String] = []

    static let fileLimit = 4 << 20

    public init(intel: [IntelCollateral] = [], snp: SNPCollateral = SNPCollateral()) {
        self.intel = intel
        self.snp = snp
    }

    public static func load(_ directory: String) throws -> CollateralDirectory {
        guard FileSystem.isDirectory(directory) else {
            throw ArcaError(.notFound, "collateral directory \(directory) does not exist")
        }
        var result = CollateralDirectory()
        let intelDirectory = directory + "/intel"
        if FileSystem.isDirectory(intelDirectory) {
            for name in try FileSystem.listDirectory(intelDirectory) {
                let path = intelDirectory + "/" + name
                do {
                    if FileSystem.isDirectory(path) {
                        result.intel.append(try loadPCS(path))
                        result.intelSources.append(path)
                    } else if name.hasSuffix(".json") {
                        result.intel.append(try IntelCollateral(qvlJSON: try FileSystem.readFile(path, limit: fileLimit)))
                        result.intelSources.append(path)
                    }
                } catch let error as ArcaError {
                    throw ArcaError(error.code, "collateral \(path): \(error.message)", cause: error.cause)
                }
            }
        }
        let amdDirectory = directory + "/amd"
        if FileSystem.isDirectory(amdDirectory) {
            for name in try FileSystem.listDirectory(amdDirectory) where name.hasSuffix(".pem") || name.hasSuffix(".der") {
                let path = amdDirectory + "/" + name
                result.snp.add(certificates: try PEMCertificates.parseAny(try FileSystem.readFile(path, limit: fileLimit), what: path))
            }
        }
        guard !result.intel.isEmpty || !result.snp.authorities.isEmpty || !result.snp.endorsementKeys.isEmpty else {
            throw ArcaError(.notFound, "collateral directory \(directory) has no intel/ or amd/ collateral")
        }
        return result
    }

    static func loadPCS(_ path: String) throws -> IntelCollateral {
        func read(_ name: String) throws -> [UInt8] { try FileSystem.readFile(path + "/" + name, limit: fileLimit) }
        func chain(_ name: String) throws -> [VendorCertificate] { try PEMCertificates.parse(try read(name), what: name) }
        func crl(_ name: String) throws -> RevocationList {
            do { return try RevocationList(der: try read(name)) } catch let error as ArcaError {
                throw ArcaError(error.code, "\(name): \(error.message)", cause: error.cause)
            }
        }
        let tcbChain = try chain("tcb_info_issuer_chain.pem")
        let qeChain = FileSystem.exists(path + "/qe_identity_issuer_chain.pem") ? try chain("qe_identity_issuer_chain.pem") : tcbChain
        return IntelCollateral(
            tcbInfo: try SignedCollateral(responseBody: try read("tcb_info.json"), member: "tcbInfo", issuerChain: tcbChain),
            qeIdentity: try SignedCollateral(responseBody: try read("qe_identity.json"), member: "enclaveIdentity", issuerChain: qeChain),
            pckCRL: try crl("pck_crl.der"),
            pckCRLIssuerChain: try chain("pck_crl_issuer_chain.pem"),
            rootCRL: try crl("root_ca_crl.der"))
    }
}
