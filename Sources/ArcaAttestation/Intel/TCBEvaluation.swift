import ArcaCore

/// Intel's TCB status names, and how statuses from the platform, the QE and the TDX module
/// combine (as Intel's QVL and dcap-qvl converge them).
public enum TCBStatus {
    public static let upToDate = "UpToDate"
    public static let swHardeningNeeded = "SWHardeningNeeded"
    public static let configurationNeeded = "ConfigurationNeeded"
    public static let configurationAndSWHardeningNeeded = "ConfigurationAndSWHardeningNeeded"
    public static let outOfDate = "OutOfDate"
    public static let outOfDateConfigurationNeeded = "OutOfDateConfigurationNeeded"
    public static let revoked = "Revoked"
    public static let all = [upToDate, swHardeningNeeded, configurationNeeded, configurationAndSWHardeningNeeded,
                             outOfDate, outOfDateConfigurationNeeded, revoked]

    /// Folds a component's status (QE or TDX module) into the platform's.
    static func converge(platform: String, component: String) -> String {
        switch component {
        case revoked: return revoked
        case outOfDate, outOfDateConfigurationNeeded:
            switch platform {
            case upToDate, swHardeningNeeded, outOfDate: return outOfDate
            case configurationNeeded, configurationAndSWHardeningNeeded, outOfDateConfigurationNeeded:
                return outOfDateConfigurationNeeded
            default: return platform
            }
        default: return platform
        }
    }
}

/// The outcome of matching a platform against TCB Info and QE Identity.
public struct TCBEvaluation: Sendable, Equatable {
    public var status: String
    public var advisories: [String]
    public var platformStatus: String
    public var qeStatus: String
    public var moduleStatus: String?
}

/// Matches a quote's platform (PCK TCB, TEE_TCB_SVN, QE) against TCB Info and QE Identity.
/// Signatures and freshness of the collateral are the caller's job (`DCAPVerifier` does them).
public enum TCBEvaluator {
    public static func evaluate(quote: DCAPQuote, pck: PCKExtensions, tcbInfo: TCBInfo, qeIdentity: EnclaveIdentity) throws -> TCBEvaluation {
        var advisories: [String] = []
        func add(_ ids: [String]?) { for id in ids ?? [] where !advisories.contains(id) { advisories.append(id) } }

        // Platform level: the first level the PCK TCB (and, for TDX, TEE_TCB_SVN) meets.
        var td: TDReportBody?
        if case .td(let body) = quote.body { td = body }
        var platform: TCBInfo.Level?
        for level in tcbInfo.tcbLevels {
            let sgx = level.tcb.sgxtcbcomponents.map(\.svn)
            guard sgx.count == 16 else { throw ArcaError(.invalidFormat, "TCB Info level has \(sgx.count) SGX components, not 16") }
            guard pck.pceSVN >= level.tcb.pcesvn, zip(pck.componentSVNs, sgx).allSatisfy({ $0 >= $1 }) else { continue }
            if let td {
                guard let tdx = level.tcb.tdxtcbcomponents?.map(\.svn), tdx.count == 16 else {
                    throw ArcaError(.invalidFormat, "TDX TCB Info level lacks its 16 TDX components")
                }
                guard zip(td.teeTCBSVN, tdx).allSatisfy({ Int($0) >= $1 }) else { continue }
            }
            platform = level
            break
        }
        guard let platform else {
            throw ArcaError(.integrity,
                            "TCB level not supported: no level of the TCB Info for FMSPC \(tcbInfo.fmspc) matches PCK components \(pck.componentSVNs.prefix(8)) PCESVN \(pck.pceSVN)" + (td.map { " TEE_TCB_SVN \(Hex.encode($0.teeTCBSVN))" } ?? ""))
        }
        add(platform.advisoryIDs)
        var status = platform.tcbStatus

        // TDX module identity (dcap-qvl, following Intel's QVL).
        var moduleStatus: String?
        if let td {
            let major = td.teeTCBSVN[1]
            let mrsigner: String, attributes: String, mask: String
            var levels: [EnclaveIdentity.Level]?
            if major > 0 {
                let id = "TDX_" + (major < 16 ? "0" : "") + String(major, radix: 16).uppercased()
                guard let identity = tcbInfo.tdxModuleIdentities?.first(where: { $0.id == id }) else {
                    throw ArcaError(.integrity, "TCB Info has no TDX module identity \(id)")
                }
                mrsigner = identity.mrsigner; attributes = identity.attributes; mask = identity.attributesMask
                levels = identity.tcbLevels
            } else {
                guard let module = tcbInfo.tdxModule else { throw ArcaError(.invalidFormat, "TDX TCB Info lacks tdxModule") }
                mrsigner = module.mrsigner; attributes = module.attributes; mask = module.attributesMask
            }
            guard Hex.decode(mrsigner) == td.mrSignerSeam else {
                throw ArcaError(.integrity, "TDX module MRSIGNERSEAM \(Hex.encode(td.mrSignerSeam.prefix(8)))… is not the TCB Info's \(mrsigner.prefix(16))…")
            }
            guard let a = Hex.decode(attributes), let m = Hex.decode(mask), a.count == 8, m.count == 8,
                  zip(zip(td.seamAttributes, m), a).allSatisfy({ $0.0 & $0.1 == $1 & $0.1 }) else {
                throw ArcaError(.integrity, "TDX module SEAM_ATTRIBUTES \(Hex.encode(td.seamAttributes)) do not match the TCB Info")
            }
            if let levels {
                guard let level = levels.first(where: { Int(td.teeTCBSVN[0]) >= $0.tcb.isvsvn }) else {
                    throw ArcaError(.integrity, "TDX module SVN \(td.teeTCBSVN[0]) is below every TCB level of the module identity")
                }
                moduleStatus = level.tcbStatus
                add(level.advisoryIDs)
                status = TCBStatus.converge(platform: status, component: level.tcbStatus)
            }
        }

        // Quoting enclave identity.
        let qe = quote.qeReport
        guard Hex.decode(qeIdentity.mrsigner) == qe.mrSigner else {
            throw ArcaError(.integrity, "QE MRSIGNER \(Hex.encode(qe.mrSigner.prefix(8)))… is not the QE Identity's \(qeIdentity.mrsigner.prefix(16))…")
        }
        guard Int(qe.isvProdID) == qeIdentity.isvprodid else {
            throw ArcaError(.integrity, "QE ISVPRODID \(qe.isvProdID) is not the QE Identity's \(qeIdentity.isvprodid)")
        }
        guard let misc = Hex.decode(qeIdentity.miscselect), let miscMask = Hex.decode(qeIdentity.miscselectMask),
              misc.count == 4, miscMask.count == 4,
              qe.miscSelect & UInt32(bigEndianBytes: miscMask) == UInt32(bigEndianBytes: misc) & UInt32(bigEndianBytes: miscMask) else {
            throw ArcaError(.integrity, "QE MISCSELECT \(qe.miscSelect) does not match the QE Identity")
        }
        guard let attributes = Hex.decode(qeIdentity.attributes), let attributesMask = Hex.decode(qeIdentity.attributesMask),
              attributes.count == 16, attributesMask.count == 16,
              zip(zip(qe.attributes, attributesMask), attributes).allSatisfy({ $0.0 & $0.1 == $1 & $0.1 }) else {
            throw ArcaError(.integrity, "QE ATTRIBUTES \(Hex.encode(qe.attributes)) do not match the QE Identity")
        }
        guard let qeLevel = qeIdentity.tcbLevels.first(where: { Int(qe.isvSVN) >= $0.tcb.isvsvn }) else {
            throw ArcaError(.integrity, "QE ISVSVN \(qe.isvSVN) is below every TCB level of the QE Identity")
        }
        add(qeLevel.advisoryIDs)
        status = TCBStatus.converge(platform: status, component: qeLevel.tcbStatus)
        // Revoked is terminal (as in Intel's QVL): no tolerance list may accept it.
        guard status != TCBStatus.revoked else {
            let parts = "platform \(platform.tcbStatus), QE \(qeLevel.tcbStatus)" + (moduleStatus.map { ", TDX module \($0)" } ?? "")
            throw ArcaError(.integrity, "TCB level is Revoked (\(parts)): Intel revoked this platform or enclave TCB, no policy can accept it")
        }
        return TCBEvaluation(status: status, advisories: advisories, platformStatus: platform.tcbStatus,
                             qeStatus: qeLevel.tcbStatus, moduleStatus: moduleStatus)
    }
}

extension UInt32 {
    /// MISCSELECT in QE Identity JSON is written as big-endian hex of the little-endian field.
    init(bigEndianBytes b: [UInt8]) {
        self = b.reduce(0) { $0 << 8 | UInt32($1) }
    }
}
