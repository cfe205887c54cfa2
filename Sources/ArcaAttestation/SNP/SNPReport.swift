import ArcaCore

/// An AMD SEV-SNP ATTESTATION_REPORT (SEV-SNP firmware ABI, versions 2, 3 and 5), parsed from
/// its fixed 1184-byte layout. Parsing checks sizes and the signature algorithm only; the
/// signature and certificate checks live in `SNPVerifier`.
public struct SNPReport: Sendable, Equatable {
    public static let size = 0x4A0
    /// The signature covers bytes [0, 0x2A0).
    public static let signedSize = 0x2A0

    public let raw: [UInt8]
    public let version: UInt32
    public let guestSVN: UInt32
    public let policy: UInt64
    public let familyID: [UInt8]
    public let imageID: [UInt8]
    public let vmpl: UInt32
    public let signatureAlgorithm: UInt32
    public let currentTCB: UInt64
    public let platformInfo: UInt64
    public let signerInfo: UInt32
    public let reportData: [UInt8]
    public let measurement: [UInt8]
    public let hostData: [UInt8]
    public let idKeyDigest: [UInt8]
    public let authorKeyDigest: [UInt8]
    public let reportID: [UInt8]
    public let reportedTCB: UInt64
    /// CPUID family, model and stepping (v3 and later; zero in v2).
    public let cpuidFamily: UInt8
    public let cpuidModel: UInt8
    public let cpuidStepping: UInt8
    public let chipID: [UInt8]
    public let committedTCB: UInt64
    public let launchTCB: UInt64
    /// The signature's R and S, big-endian, 48 bytes each.
    public let signatureR: [UInt8]
    public let signatureS: [UInt8]

    /// Policy bit 19: the hypervisor may debug the guest (read and write its memory).
    public var debugAllowed: Bool { policy & (1 << 19) != 0 }
    /// Signer info bits 2–4: 0 = VCEK, 1 = VLEK, 7 = none.
    public var signingKey: UInt32 { (signerInfo >> 2) & 0x7 }

    public init(_ bytes: [UInt8]) throws {
        guard bytes.count >= Self.size else {
            throw ArcaError(.invalidFormat, "SNP report is \(bytes.count) bytes, shorter than the \(Self.size)-byte ATTESTATION_REPORT")
        }
        let raw = Array(bytes.prefix(Self.size))
        version = UInt32(raw.littleEndian(0x00, 4))
        guard [2, 3, 4, 5].contains(version) else {
            throw ArcaError(.unsupported, "SNP report version \(version) is not supported (2, 3, 4 or 5)")
        }
        signatureAlgorithm = UInt32(raw.littleEndian(0x34, 4))
        guard signatureAlgorithm == 1 else {
            throw ArcaError(.unsupported, "SNP report signature algorithm \(signatureAlgorithm) is not 1 (ECDSA P-384 with SHA-384)")
        }
        guestSVN = UInt32(raw.littleEndian(0x04, 4))
        policy = raw.littleEndian(0x08, 8)
        familyID = raw.slice(0x10, 16)
        imageID = raw.slice(0x20, 16)
        vmpl = UInt32(raw.littleEndian(0x30, 4))
        currentTCB = raw.littleEndian(0x38, 8)
        platformInfo = raw.littleEndian(0x40, 8)
        signerInfo = UInt32(raw.littleEndian(0x48, 4))
        reportData = raw.slice(0x50, 64)
        measurement = raw.slice(0x90, 48)
        hostData = raw.slice(0xC0, 32)
        idKeyDigest = raw.slice(0xE0, 48)
        authorKeyDigest = raw.slice(0x110, 48)
        reportID = raw.slice(0x140, 32)
        reportedTCB = raw.littleEndian(0x180, 8)
        cpuidFamily = raw[0x188]
        cpuidModel = raw[0x189]
        cpuidStepping = raw[0x18A]
        chipID = raw.slice(0x1A0, 64)
        committedTCB = raw.littleEndian(0x1E0, 8)
        launchTCB = raw.littleEndian(0x1F0, 8)
        // R and S are 72-byte little-endian fields; P-384 values use the low 48 bytes.
        let r = raw.slice(0x2A0, 72), s = raw.slice(0x2E8, 72)
        guard r[48...].allSatisfy({ $0 == 0 }), s[48...].allSatisfy({ $0 == 0 }) else {
            throw ArcaError(.invalidFormat, "SNP report signature R or S is longer than 48 bytes")
        }
        signatureR = Array(r[0..<48].reversed())
        signatureS = Array(s[0..<48].reversed())
        self.raw = raw
    }
}

/// The AMD product lines an ARK is pinned for.
public enum SNPProduct: String, Sendable, CaseIterable, Codable {
    case milan = "Milan", genoa = "Genoa", turin = "Turin"

    /// From the report's CPUID bytes (v3+); nil when they are zero or unknown.
    init?(family: UInt8, model: UInt8) {
        switch (family, model >> 4) {
        case (0x19, 0x0): self = .milan
        case (0x19, 0x1), (0x19, 0xA): self = .genoa
        case (0x1A, 0x0), (0x1A, 0x1): self = .turin
        default: return nil
        }
    }

    /// From a VEK's productName extension (`Milan-B0`, `Genoa`, `Turin`).
    init?(productName: String) {
        let base = productName.split(separator: "-").first.map(String.init) ?? productName
        self.init(rawValue: base)
    }
}

/// The TCB_VERSION components as the product lays them out (Turin moved them and added FMC).
public struct SNPTCB: Sendable, Equatable, CustomStringConvertible {
    public var fmc: UInt8?
    public var bootLoader: UInt8
    public var tee: UInt8
    public var snp: UInt8
    public var microcode: UInt8

    public init(_ value: UInt64, product: SNPProduct) {
        let b = (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
        if product == .turin {
            fmc = b[0]; bootLoader = b[1]; tee = b[2]; snp = b[3]; microcode = b[7]
        } else {
            fmc = nil; bootLoader = b[0]; tee = b[1]; snp = b[6]; microcode = b[7]
        }
    }

    public var description: String {
        (fmc.map { "fmc \($0), " } ?? "") + "bl \(bootLoader), tee \(tee), snp \(snp), ucode \(microcode)"
    }

    /// True when every component is at least `minimum`'s.
    public func isAtLeast(_ minimum: SNPTCB) -> Bool {
        bootLoader >= minimum.bootLoader && tee >= minimum.tee && snp >= minimum.snp
            && microcode >= minimum.microcode && (fmc ?? 0) >= (minimum.fmc ?? 0)
    }
}
