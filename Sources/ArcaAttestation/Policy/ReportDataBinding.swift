import ArcaCore
import Crypto

/// How Arca binds its session to hardware evidence. The 64 report-data bytes every TEE signs
/// (SGX/TDX REPORT_DATA, SNP REPORT_DATA) are
///
///     SHA-512( "arca-evidence-v1" ‖ 0x00 ‖ u16be(|nonce|) ‖ nonce
///              ‖ u16be(|ephemeralKey|) ‖ ephemeralKey ‖ u16be(|measurement|) ‖ measurement )
///
/// so the keeper's nonce (freshness), the runtime's ephemeral public key (where released
/// secrets go) and the Arca measurement (what is running) are all committed; the length
/// prefixes keep the encoding unambiguous.
public enum ReportDataBinding {
    public static let domain = Array("arca-evidence-v1".utf8) + [0]

    public static func reportData(nonce: [UInt8], ephemeralKey: [UInt8], measurement: [UInt8]) throws -> [UInt8] {
        var input = domain
        for (name, field) in [("nonce", nonce), ("ephemeral key", ephemeralKey), ("measurement", measurement)] {
            guard field.count <= Int(UInt16.max) else {
                throw ArcaError(.limitExceeded, "report data binding: \(name) is \(field.count) bytes, over the 65535-byte limit")
            }
            input += [UInt8(field.count >> 8), UInt8(field.count & 0xff)] + field
        }
        return Array(SHA512.hash(data: input))
    }

    /// Throws unless `evidence` carries exactly the report data for these inputs.
    public static func check(_ evidence: VerifiedEvidence, nonce: [UInt8], ephemeralKey: [UInt8], measurement: [UInt8]) throws {
        let expected = try reportData(nonce: nonce, ephemeralKey: ephemeralKey, measurement: measurement)
        guard evidence.reportData == expected else {
            throw ArcaError(.policyRejected,
                            "report data \(Hex.encode(evidence.reportData.prefix(8)))… does not bind this nonce, ephemeral key and measurement (expected \(Hex.encode(expected.prefix(8)))…): replayed or foreign evidence")
        }
    }
}

extension ArcaError.Code {
    /// Evidence verified, but the session's policy does not accept it.
    public static let policyRejected = ArcaError.Code(rawValue: "policy-rejected")
}
