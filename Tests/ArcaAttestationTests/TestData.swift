import ArcaAttestation
import ArcaCore
import FoundationEssentials
import Testing

/// The published samples in `shared/testdata/attestation`, beside the repository root.
enum TestData {
    static let root: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        parts.removeLast(3)  // Tests/ArcaAttestationTests/TestData.swift
        return parts.joined(separator: "/") + "/../shared/testdata/attestation"
    }()

    static func bytes(_ path: String) throws -> [UInt8] {
        try FileSystem.readFile(root + "/" + path, limit: 1 << 20)
    }

    static func certificates(_ path: String) throws -> [VendorCertificate] {
        try PEMCertificates.parseAny(try bytes(path), what: path)
    }

    static func time(_ text: String) -> Date {
        (try? AttestationTime.parse(text)) ?? Date(timeIntervalSince1970: 0)
    }

    static func qvlCollateral(_ path: String) throws -> IntelCollateral {
        try IntelCollateral(qvlJSON: try bytes(path))
    }

    /// go-tdx-guest's PCS responses, headers and CRLs for FMSPC 50806f000000 (2023).
    static func goTDXCollateral() throws -> IntelCollateral {
        let chain = try certificates("tdx/go-tdx-guest/tcbinfo_issuer_chain.pem")
        return IntelCollateral(
            tcbInfo: try SignedCollateral(responseBody: try bytes("tdx/go-tdx-guest/sample_tcbInfo_response"), member: "tcbInfo", issuerChain: chain),
            qeIdentity: try SignedCollateral(responseBody: try bytes("tdx/go-tdx-guest/sample_qeIdentity_response"), member: "enclaveIdentity",
                                             issuerChain: try certificates("tdx/go-tdx-guest/qeidentity_issuer_chain.pem")),
            pckCRL: try RevocationList(der: try bytes("tdx/go-tdx-guest/pckcrl")),
            pckCRLIssuerChain: try certificates("tdx/go-tdx-guest/pckcrl_issuer_chain.pem"),
            rootCRL: try RevocationList(der: try bytes("tdx/go-tdx-guest/rootcrl.der")))
    }

    /// The Milan/Genoa/Turin ASK/ASVK + ARK bundles.
    static func amdCollateral(vek: String? = nil) throws -> SNPCollateral {
        var collateral = SNPCollateral()
        for product in ["milan", "genoa", "turin"] {
            collateral.add(certificates: try certificates("roots/amd/ask_ark_\(product)_vcek.pem"))
            collateral.add(certificates: try certificates("roots/amd/asvk_ark_\(product)_vlek.pem"))
        }
        if let vek { collateral.add(certificates: try certificates(vek)) }
        return collateral
    }
}

/// Expects `body` to throw an `ArcaError` whose message contains `fragment`.
func expectFailure(_ fragment: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected a failure containing '\(fragment)'", sourceLocation: sourceLocation)
    } catch let error as ArcaError {
        #expect(error.message.contains(fragment), "message was: \(error.message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected an ArcaError, got \(error)", sourceLocation: sourceLocation)
    }
}
