import ArcaCore
import SwiftASN1

/// The SGX extension (OID 1.2.840.113741.1.13.1) of a PCK certificate: the platform's FMSPC,
/// PCE ID and the TCB the certificate was issued for.
public struct PCKExtensions: Sendable, Equatable {
    public static let oid = "1.2.840.113741.1.13.1"
    public var ppid: [UInt8]
    /// The 16 SGX TCB component SVNs (`.2.1` … `.2.16`).
    public var componentSVNs: [Int]
    public var pceSVN: Int
    public var cpuSVN: [UInt8]
    public var pceID: [UInt8]
    public var fmspc: [UInt8]
    public var sgxType: Int

    public init(_ certificate: VendorCertificate) throws {
        guard let value = certificate.extensions[Self.oid] else {
            throw ArcaError(.invalidFormat, "PCK certificate \(certificate.name) has no SGX extension \(Self.oid)")
        }
        var fields: [String: ASN1Node] = [:]
        for item in try DERNode.children(try DERNode.parse(value, "SGX extension"), "SGX extension") {
            let pair = try DERNode.children(item, "SGX extension entry")
            guard pair.count == 2 else { throw ArcaError(.invalidFormat, "SGX extension entry has \(pair.count) fields") }
            fields[try DERNode.oid(pair[0], "SGX extension entry id").description] = pair[1]
        }
        func field(_ suffix: String) throws -> ASN1Node {
            guard let node = fields["\(Self.oid).\(suffix)"] else {
                throw ArcaError(.invalidFormat, "PCK certificate SGX extension lacks \(Self.oid).\(suffix)")
            }
            return node
        }
        ppid = Array(try DERNode.primitive(try field("1"), .octetString, "PPID"))
        pceID = Array(try DERNode.primitive(try field("3"), .octetString, "PCEID"))
        fmspc = Array(try DERNode.primitive(try field("4"), .octetString, "FMSPC"))
        guard fmspc.count == 6, pceID.count == 2 else {
            throw ArcaError(.invalidFormat, "PCK certificate FMSPC (\(fmspc.count) bytes) or PCEID (\(pceID.count) bytes) has the wrong size")
        }
        let typeNode = try field("5")
        sgxType = try DERNode.smallInteger(typeNode, "SGX type", identifier: .enumerated)
        var tcb: [String: ASN1Node] = [:]
        for item in try DERNode.children(try field("2"), "SGX TCB") {
            let pair = try DERNode.children(item, "SGX TCB entry")
            guard pair.count == 2 else { throw ArcaError(.invalidFormat, "SGX TCB entry has \(pair.count) fields") }
            tcb[try DERNode.oid(pair[0], "SGX TCB entry id").description] = pair[1]
        }
        func tcbField(_ n: Int) throws -> ASN1Node {
            guard let node = tcb["\(Self.oid).2.\(n)"] else {
                throw ArcaError(.invalidFormat, "PCK certificate SGX TCB lacks \(Self.oid).2.\(n)")
            }
            return node
        }
        componentSVNs = try (1...16).map { try DERNode.smallInteger(try tcbField($0), "SGX TCB component \($0)") }
        pceSVN = try DERNode.smallInteger(try tcbField(17), "PCESVN")
        cpuSVN = Array(try DERNode.primitive(try tcbField(18), .octetString, "CPUSVN"))
    }
}
