import ArcaCore

/// An Intel DCAP ECDSA quote: SGX v3, and TDX v4/v5 (Intel `sgx_quote_3.h`, `sgx_quote_5.h`).
/// Parsing bounds every structure by its length field; it checks no signature.
public struct DCAPQuote: Sendable {
    public enum Body: Sendable {
        case sgx(SGXReportBody)
        case td(TDReportBody)
    }

    public let version: UInt16
    public let teeType: UInt32
    public let qeSVN: UInt16
    public let pceSVN: UInt16
    public let qeVendorID: [UInt8]
    public let userData: [UInt8]
    public let body: Body
    /// Bytes [0, signedLength) are what the attestation key signed.
    public let signedLength: Int
    public let signature: [UInt8]
    public let attestationKey: [UInt8]
    public let qeReportRaw: [UInt8]
    public let qeReport: SGXReportBody
    public let qeReportSignature: [UInt8]
    public let qeAuthData: [UInt8]
    /// Certification data type 5 content: the PEM PCK chain.
    public let pckChainPEM: [UInt8]
    public let raw: [UInt8]
    /// Unsigned bytes after the signature data (ignored).
    public let trailingBytes: Int

    public static let teeSGX: UInt32 = 0x00
    public static let teeTDX: UInt32 = 0x81
    static let maximumSize = 1 << 20

    public var isTDX: Bool { teeType == Self.teeTDX }

    public init(_ bytes: [UInt8]) throws {
        guard bytes.count <= Self.maximumSize else {
            throw ArcaError(.limitExceeded, "quote is \(bytes.count) bytes, over the \(Self.maximumSize)-byte limit")
        }
        var r = ByteReader(bytes, what: "quote")
        version = try r.u16("header version")
        let keyType = try r.u16("header attestation key type")
        teeType = try r.u32("header tee type")
        qeSVN = try r.u16("header QE SVN")
        pceSVN = try r.u16("header PCE SVN")
        qeVendorID = try r.take(16, "header QE vendor ID")
        userData = try r.take(20, "header user data")
        guard [3, 4, 5].contains(version) else {
            throw ArcaError(.unsupported, "quote version \(version) is not supported (3, 4 or 5)")
        }
        guard keyType == 2 else {
            throw ArcaError(.unsupported, "quote attestation key type \(keyType) is not 2 (ECDSA-256 with P-256)")
        }
        guard teeType == Self.teeSGX || teeType == Self.teeTDX else {
            throw ArcaError(.unsupported, "quote TEE type 0x\(String(teeType, radix: 16)) is neither SGX (0x0) nor TDX (0x81)")
        }
        if version == 3, teeType != Self.teeSGX {
            throw ArcaError(.invalidFormat, "quote v3 must carry an SGX report, TEE type is \(teeType)")
        }

        if version == 5 {
            let type = try r.u16("body type")
            let size = Int(try r.u32("body size"))
            let expected: Int
            switch type {
            case 1: expected = SGXReportBody.size
            case 2: expected = TDReportBody.size10
            case 3: expected = TDReportBody.size15
            default: throw ArcaError(.unsupported, "quote v5 body type \(type) is not 1, 2 or 3")
            }
            guard size == expected else {
                throw ArcaError(.invalidFormat, "quote v5 body type \(type) has size \(size), not \(expected)")
            }
            guard (type == 1) == (teeType == Self.teeSGX) else {
                throw ArcaError(.invalidFormat, "quote v5 body type \(type) does not match TEE type \(teeType)")
            }
            let raw = try r.take(size, "report body")
            body = type == 1 ? .sgx(try SGXReportBody(raw)) : .td(try TDReportBody(raw))
        } else if teeType == Self.teeTDX {
            body = .td(try TDReportBody(try r.take(TDReportBody.size10, "TD report body")))
        } else {
            body = .sgx(try SGXReportBody(try r.take(SGXReportBody.size, "enclave report body")))
        }
        signedLength = r.offset

        let signatureLength = Int(try r.u32("signature data length"))
        guard signatureLength <= r.remaining else {
            throw ArcaError(.invalidFormat, "quote signature data length \(signatureLength) runs past the end (\(r.remaining) bytes left)")
        }
        // Bytes after the signature data are not signed and are ignored: real quotes carry
        // zero padding (fixed-size buffers) or, in go-tdx-guest's SPR sample, a text note.
        let signatureEnd = r.offset + signatureLength
        trailingBytes = bytes.count - signatureEnd
        var s = ByteReader(bytes, from: r.offset, to: signatureEnd, what: "quote signature data")
        signature = try s.take(64, "quote signature")
        attestationKey = try s.take(64, "attestation key")

        var qe: ByteReader
        if version == 3 {
            qe = s
        } else {
            let (type, data) = try Self.certificationData(&s, "outer certification data")
            guard type == 6 else {
                throw ArcaError(.unsupported, "quote certification data type \(type) is not 6 (QE report certification data)")
            }
            qe = ByteReader(data, what: "QE report certification data")
        }
        qeReportRaw = try qe.take(SGXReportBody.size, "QE report")
        qeReport = try SGXReportBody(qeReportRaw)
        qeReportSignature = try qe.take(64, "QE report signature")
        let authLength = Int(try qe.u16("QE auth data length"))
        qeAuthData = try qe.take(authLength, "QE auth data")
        let (type, data) = try Self.certificationData(&qe, "PCK certification data")
        guard type == 5 else {
            throw ArcaError(.unsupported, "quote certification data type \(type) is not 5 (PCK certificate chain); types 1–4 need the PCK certificate from elsewhere")
        }
        pckChainPEM = data
        raw = bytes
    }

    private static func certificationData(_ reader: inout ByteReader, _ what: String) throws -> (UInt16, [UInt8]) {
        let type = try reader.u16("\(what) type")
        let size = Int(try reader.u32("\(what) size"))
        return (type, try reader.take(size, "\(what) (\(size) bytes)"))
    }
}

/// `sgx_report_body_t` (384 bytes): an enclave's identity.
public struct SGXReportBody: Sendable, Equatable {
    public static let size = 384
    public let cpuSVN: [UInt8]
    public let miscSelect: UInt32
    public let attributes: [UInt8]
    public let mrEnclave: [UInt8]
    public let mrSigner: [UInt8]
    public let configID: [UInt8]
    public let isvProdID: UInt16
    public let isvSVN: UInt16
    public let configSVN: UInt16
    public let isvFamilyID: [UInt8]
    public let reportData: [UInt8]

    /// ATTRIBUTES.DEBUG (flags bit 1).
    public var debug: Bool { attributes[0] & 0x02 != 0 }

    init(_ b: [UInt8]) throws {
        guard b.count == Self.size else { throw ArcaError(.invalidFormat, "SGX report body is \(b.count) bytes, not \(Self.size)") }
        cpuSVN = b.slice(0, 16)
        miscSelect = UInt32(b.littleEndian(16, 4))
        attributes = b.slice(48, 16)
        mrEnclave = b.slice(64, 32)
        mrSigner = b.slice(128, 32)
        configID = b.slice(192, 64)
        isvProdID = UInt16(b.littleEndian(256, 2))
        isvSVN = UInt16(b.littleEndian(258, 2))
        configSVN = UInt16(b.littleEndian(260, 2))
        isvFamilyID = b.slice(304, 16)
        reportData = b.slice(320, 64)
    }
}

/// A TD report body (TDX 1.0: 584 bytes; TDX 1.5 adds TEE_TCB_SVN2 and MRSERVICETD: 648).
public struct TDReportBody: Sendable, Equatable {
    public static let size10 = 584
    public static let size15 = 648
    public let teeTCBSVN: [UInt8]
    public let mrSeam: [UInt8]
    public let mrSignerSeam: [UInt8]
    public let seamAttributes: [UInt8]
    public let tdAttributes: [UInt8]
    public let xfam: [UInt8]
    public let mrTD: [UInt8]
    public let mrConfigID: [UInt8]
    public let mrOwner: [UInt8]
    public let mrOwnerConfig: [UInt8]
    public let rtmrs: [[UInt8]]
    public let reportData: [UInt8]
    public let teeTCBSVN2: [UInt8]?
    public let mrServiceTD: [UInt8]?

    /// TD_ATTRIBUTES.DEBUG (byte 0 bit 0).
    public var debug: Bool { tdAttributes[0] & 0x01 != 0 }

    init(_ b: [UInt8]) throws {
        guard b.count == Self.size10 || b.count == Self.size15 else {
            throw ArcaError(.invalidFormat, "TD report body is \(b.count) bytes, not \(Self.size10) or \(Self.size15)")
        }
        teeTCBSVN = b.slice(0, 16)
        mrSeam = b.slice(16, 48)
        mrSignerSeam = b.slice(64, 48)
        seamAttributes = b.slice(112, 8)
        tdAttributes = b.slice(120, 8)
        xfam = b.slice(128, 8)
        mrTD = b.slice(136, 48)
        mrConfigID = b.slice(184, 48)
        mrOwner = b.slice(232, 48)
        mrOwnerConfig = b.slice(280, 48)
        rtmrs = (0..<4).map { b.slice(328 + 48 * $0, 48) }
        reportData = b.slice(520, 64)
        if b.count == Self.size15 {
            teeTCBSVN2 = b.slice(584, 16)
            mrServiceTD = b.slice(600, 48)
        } else {
            teeTCBSVN2 = nil
            mrServiceTD = nil
        }
    }
}
