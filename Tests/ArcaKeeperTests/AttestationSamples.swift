import ArcaAttestation
import ArcaCore
import Foundation

/// The published attestation samples in `shared/testdata/attestation` (beside the repository
/// root), and PCS-style answers built from them for `FakePCCS`.
enum AttestationSamples {
    static let root = PostgresCluster.repositoryRoot + "/../shared/testdata/attestation"

    static func bytes(_ path: String) throws -> [UInt8] { try FileSystem.readFile(root + "/" + path, limit: 1 << 20) }

    static func time(_ text: String) throws -> Date { try AttestationTime.parse(text) }

    /// One PCS download: the four answers a PCCS gives for one (kind, FMSPC, CA).
    struct PCSAnswers {
        var kind: String
        var fmspc: String
        var ca: String
        var tcbBody: [UInt8]
        var tcbChain: [UInt8]
        var qeBody: [UInt8]
        var qeChain: [UInt8]
        var pckCRL: [UInt8]
        var pckCRLChain: [UInt8]
        var rootCRL: [UInt8]

        var tcbTarget: String { "/\(kind)/certification/v4/tcb?fmspc=\(fmspc)" }
        var qeTarget: String { "/\(kind)/certification/v4/qe/identity" }
        var crlTarget: String { "/sgx/certification/v4/pckcrl?ca=\(ca)&encoding=der" }
        static let rootTarget = "/sgx/certification/v4/rootcacrl"

        /// The route table, with the root CRL as hex text (what PCCS's `rootcacrl` answers).
        var routes: [String: FakePCCS.Response] {
            [
                tcbTarget: .init(headers: [("TCB-Info-Issuer-Chain", FakePCCS.urlEncode(tcbChain))], body: tcbBody),
                qeTarget: .init(headers: [("SGX-Enclave-Identity-Issuer-Chain", FakePCCS.urlEncode(qeChain))], body: qeBody),
                crlTarget: .init(headers: [("SGX-PCK-CRL-Issuer-Chain", FakePCCS.urlEncode(pckCRLChain))], body: pckCRL),
                Self.rootTarget: .init(body: Array(Hex.encode(rootCRL).utf8)),
            ]
        }
    }

    /// go-tdx-guest's PCS answers for TDX FMSPC 50806f000000 (Platform CA), current 2023-06-18 .. 2023-07-08.
    static func goTDX() throws -> PCSAnswers {
        PCSAnswers(kind: "tdx", fmspc: "50806f000000", ca: "platform",
                   tcbBody: try bytes("tdx/go-tdx-guest/sample_tcbInfo_response"),
                   tcbChain: try bytes("tdx/go-tdx-guest/tcbinfo_issuer_chain.pem"),
                   qeBody: try bytes("tdx/go-tdx-guest/sample_qeIdentity_response"),
                   qeChain: try bytes("tdx/go-tdx-guest/qeidentity_issuer_chain.pem"),
                   pckCRL: try bytes("tdx/go-tdx-guest/pckcrl"),
                   pckCRLChain: try bytes("tdx/go-tdx-guest/pckcrl_issuer_chain.pem"),
                   rootCRL: try bytes("tdx/go-tdx-guest/rootcrl.der"))
    }

    /// dcap-qvl's SGX collateral JSON (FMSPC 00a067110000, Processor CA) as PCS answers.
    static func dcapQVLSGX() throws -> PCSAnswers {
        struct QVL: Decodable {
            var pck_crl_issuer_chain, root_ca_crl, pck_crl, tcb_info_issuer_chain, tcb_info, tcb_info_signature: String
            var qe_identity_issuer_chain, qe_identity, qe_identity_signature: String
        }
        let qvl = try JSONDecoder().decode(QVL.self, from: Data(try bytes("sgx/dcap-qvl/sgx_quote_collateral.json")))
        return PCSAnswers(kind: "sgx", fmspc: "00a067110000", ca: "processor",
                          tcbBody: Array("{\"tcbInfo\":\(qvl.tcb_info),\"signature\":\"\(qvl.tcb_info_signature)\"}".utf8),
                          tcbChain: Array(qvl.tcb_info_issuer_chain.utf8),
                          qeBody: Array("{\"enclaveIdentity\":\(qvl.qe_identity),\"signature\":\"\(qvl.qe_identity_signature)\"}".utf8),
                          qeChain: Array(qvl.qe_identity_issuer_chain.utf8),
                          pckCRL: Hex.decode(qvl.pck_crl) ?? [], pckCRLChain: Array(qvl.pck_crl_issuer_chain.utf8),
                          rootCRL: Hex.decode(qvl.root_ca_crl) ?? [])
    }

    /// Lays out a collateral directory (intel/ qvl JSON + one PCS download, amd/ chains and a VCEK).
    static func layoutCollateral(_ base: String) throws {
        try FileSystem.makeDirectories(base + "/intel/tdx-50806f")
        try FileSystem.makeDirectories(base + "/amd")
        try FileSystem.writeAtomically(try bytes("sgx/dcap-qvl/sgx_quote_collateral.json"), to: base + "/intel/sgx.json")
        let pcs: [(String, String)] = [
            ("tdx/go-tdx-guest/sample_tcbInfo_response", "tcb_info.json"),
            ("tdx/go-tdx-guest/tcbinfo_issuer_chain.pem", "tcb_info_issuer_chain.pem"),
            ("tdx/go-tdx-guest/sample_qeIdentity_response", "qe_identity.json"),
            ("tdx/go-tdx-guest/qeidentity_issuer_chain.pem", "qe_identity_issuer_chain.pem"),
            ("tdx/go-tdx-guest/pckcrl", "pck_crl.der"),
            ("tdx/go-tdx-guest/pckcrl_issuer_chain.pem", "pck_crl_issuer_chain.pem"),
            ("tdx/go-tdx-guest/rootcrl.der", "root_ca_crl.der"),
        ]
        for (source, name) in pcs { try FileSystem.writeAtomically(try bytes(source), to: base + "/intel/tdx-50806f/" + name) }
        try FileSystem.writeAtomically(try bytes("roots/amd/ask_ark_milan_vcek.pem"), to: base + "/amd/milan.pem")
        try FileSystem.writeAtomically(try bytes("snp/trustee/test-vcek.der"), to: base + "/amd/vcek.der")
    }
}
