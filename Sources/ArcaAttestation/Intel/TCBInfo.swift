import ArcaCore
import FoundationEssentials

/// Intel TCB Info (version 3, id "SGX" or "TDX") as served by the PCS/PCCS
/// `…/certification/v4/tcb` endpoint.
public struct TCBInfo: Sendable, Decodable {
    public struct Component: Sendable, Decodable { public var svn: Int }
    public struct TCB: Sendable, Decodable {
        public var sgxtcbcomponents: [Component]
        public var pcesvn: Int
        public var tdxtcbcomponents: [Component]?
    }
    public struct Level: Sendable, Decodable {
        public var tcb: TCB
        public var tcbDate: String?
        public var tcbStatus: String
        public var advisoryIDs: [String]?
    }
    public struct Module: Sendable, Decodable {
        public var mrsigner: String
        public var attributes: String
        public var attributesMask: String
    }
    public struct ModuleIdentity: Sendable, Decodable {
        public var id: String
        public var mrsigner: String
        public var attributes: String
        public var attributesMask: String
        public var tcbLevels: [EnclaveIdentity.Level]
    }

    public var id: String
    public var version: Int
    public var issueDate: String
    public var nextUpdate: String
    public var fmspc: String
    public var pceId: String
    public var tcbEvaluationDataNumber: Int?
    public var tdxModule: Module?
    public var tdxModuleIdentities: [ModuleIdentity]?
    public var tcbLevels: [Level]
}

/// Intel QE Identity (version 2, id "QE" for SGX, "TD_QE" for TDX).
public struct EnclaveIdentity: Sendable, Decodable {
    public struct ISVSVN: Sendable, Decodable { public var isvsvn: Int }
    public struct Level: Sendable, Decodable {
        public var tcb: ISVSVN
        public var tcbDate: String?
        public var tcbStatus: String
        public var advisoryIDs: [String]?
    }
    public var id: String
    public var version: Int
    public var issueDate: String
    public var nextUpdate: String
    public var miscselect: String
    public var miscselectMask: String
    public var attributes: String
    public var attributesMask: String
    public var mrsigner: String
    public var isvprodid: Int
    public var tcbLevels: [Level]
}

/// A JSON document Intel signed: the exact signed bytes, the raw ECDSA signature (r ‖ s) and
/// the issuer chain (TCB Signing certificate, then the root).
public struct SignedCollateral: Sendable {
    public var body: [UInt8]
    public var signature: [UInt8]
    public var issuerChain: [VendorCertificate]

    public init(body: [UInt8], signature: [UInt8], issuerChain: [VendorCertificate]) {
        self.body = body
        self.signature = signature
        self.issuerChain = issuerChain
    }

    /// From a PCS response body `{"tcbInfo": {…}, "signature": "hex"}` (member named `member`).
    public init(responseBody: [UInt8], member: String, issuerChain: [VendorCertificate]) throws {
        let members = try JSONSpans.members(responseBody, what: "\(member) response")
        guard let body = members[member], let signatureSpan = members["signature"] else {
            throw ArcaError(.invalidFormat, "\(member) response lacks '\(member)' or 'signature'")
        }
        let hex = try JSONSpans.stringValue(signatureSpan, what: "\(member) signature")
        guard let signature = Hex.decode(hex), signature.count == 64 else {
            throw ArcaError(.invalidFormat, "\(member) signature is not 64 bytes of hex")
        }
        self.init(body: Array(body), signature: signature, issuerChain: issuerChain)
    }

    /// The body decoded as TCB Info (no signature check).
    public func decodedTCBInfo() throws -> TCBInfo { try decode(TCBInfo.self, what: "TCB Info") }
    /// The body decoded as QE Identity (no signature check).
    public func decodedEnclaveIdentity() throws -> EnclaveIdentity { try decode(EnclaveIdentity.self, what: "QE Identity") }

    func decode<T: Decodable>(_ type: T.Type, what: String) throws -> T {
        do { return try JSONDecoder().decode(T.self, from: Data(body)) } catch {
            throw ArcaError(.invalidFormat, "\(what) JSON does not have the expected fields", cause: error)
        }
    }
}
