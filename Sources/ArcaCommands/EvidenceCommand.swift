import ArcaAttestation
import ArcaCore
import ArgumentParser
import FoundationEssentials


/// `arca evidence …`: work with TEE attestation evidence.
public struct EvidenceCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "evidence",
        abstract: "Work with TEE attestation evidence (SGX, TDX and SEV-SNP).",
        subcommands: [EvidenceVerifyCommand.self])

    public init() {}
}

/// `arca evidence verify FILE`: verifies an SGX/TDX quote or an SNP report offline.
public struct EvidenceVerifyCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify an SGX or TDX quote, or an SEV-SNP report, against pinned vendor roots.",
        discussion: """
            FILE is a raw DCAP quote (SGX v3, TDX v4/v5) or an SNP report, optionally followed by \
            the host's certificate table (what configfs-tsm's outblob ‖ auxblob gives). Collateral \
            (TCB Info, QE Identity, CRLs, AMD certificate chains, VCEK/VLEK) is read from DIR; see \
            docs/ATTESTATION.md for its layout. Without Intel collateral the quote's signatures \
            and chain are checked but its TCB status is not evaluated.
            """)

    @Argument(help: "The evidence file.")
    public var file: String

    @Option(help: "Evidence kind: sgx, tdx or snp (default: detected from the file).")
    public var kind: String?

    @Option(help: "Verification time, e.g. 2025-07-01T00:00:00Z (default: now).")
    public var at: String?

    @Option(help: "Collateral directory (intel/, amd/).")
    public var collateral: String?

    @Option(help: "Output format: text or json.")
    public var format: String = "text"

    public init() {}

    public func run() throws {
        guard format == "text" || format == "json" else {
            throw ValidationError("--format must be text or json, not '\(format)'")
        }
        let outcome = Self.verify(file: file, kind: kind, at: at, collateral: collateral)
        print(format == "json" ? outcome.json() : outcome.text())
        if outcome.error != nil { throw ExitCode(1) }
    }

    /// The outcome of one verification, for printing.
    public struct Outcome: Sendable {
        public var kind: EvidenceKind?
        public var time: String
        public var checks: [String]
        public var evidence: VerifiedEvidence?
        public var notes: [String]
        public var error: ArcaError?

        public func text() -> String {
            var lines = ["evidence: \(kind?.rawValue ?? "unknown") at \(time)"]
            if let error {
                lines.append("FAILED: \(error.message)")
                return lines.joined(separator: "\n")
            }
            lines += checks.map { "  ok  \($0)" }
            lines += notes.map { "  !!  \($0)" }
            if let evidence {
                lines.append("tcb status: \(evidence.tcbStatus ?? "not evaluated")")
                if !evidence.advisories.isEmpty { lines.append("advisories: \(evidence.advisories.joined(separator: ", "))") }
                lines.append("debug: \(evidence.debug)")
                lines.append("platform: \(evidence.platform)")
                lines.append("report data: \(Hex.encode(evidence.reportData))")
                for key in evidence.measurements.keys.sorted() { lines.append("\(key): \(evidence.measurements[key] ?? "")") }
                lines.append("VERIFIED")
            }
            return lines.joined(separator: "\n")
        }

        public func json() -> String {
            var object: [String: JSONValue] = ["ok": .bool(error == nil), "kind": .string(kind?.rawValue ?? ""), "time": .string(time)]
            if let error {
                object["error"] = .string(error.message)
                object["code"] = .string(error.code.rawValue)
            } else if let evidence {
                object["checks"] = .array(checks.map(JSONValue.string))
                object["notes"] = .array(notes.map(JSONValue.string))
                object["tcbStatus"] = evidence.tcbStatus.map(JSONValue.string) ?? .null
                object["advisories"] = .array(evidence.advisories.map(JSONValue.string))
                object["debug"] = .bool(evidence.debug)
                object["platform"] = .string(evidence.platform)
                object["reportData"] = .string(Hex.encode(evidence.reportData))
                object["measurements"] = .object(evidence.measurements.mapValues(JSONValue.string))
            }
            return JSONValue.object(object).encoded()
        }
    }

    /// Runs the verification; never throws, so the caller can print the failure.
    public static func verify(file: String, kind: String?, at: String?, collateral: String?) -> Outcome {
        var outcome = Outcome(kind: nil, time: "", checks: [], evidence: nil, notes: [], error: nil)
        do {
            let time = try at.map(AttestationTime.parse) ?? Date()
            outcome.time = AttestationTime.format(time)
            let bytes = try FileSystem.readFile(file, limit: 1 << 20)
            let detected = try kind.map(Self.parseKind) ?? Self.detect(bytes)
            outcome.kind = detected
            let loaded = try collateral.map(CollateralDirectory.load) ?? CollateralDirectory()
            switch detected {
            case .snp:
                outcome.evidence = try SNPVerifier(collateral: loaded.snp).verify(bytes, at: time)
                let key = outcome.evidence?.measurements["signing_key"]?.uppercased() ?? "VEK"
                outcome.checks = [
                    "SNP report structure (version \(outcome.evidence?.measurements["version"] ?? "?"))",
                    "report signature (ECDSA P-384/SHA-384) by the \(key)",
                    "\(key) -> \(key == "VLEK" ? "ASVK" : "ASK") -> ARK chain, ARK pinned for \(outcome.evidence?.measurements["product"] ?? "the product")",
                    "certificates valid at \(outcome.time)",
                    "reported TCB equals the \(key) certificate's TCB" + (key == "VCEK" ? "; CHIP_ID equals its hardware ID" : ""),
                ]
            default:
                let verifier = DCAPVerifier(kind: detected, collateral: loaded.intel, requireCollateral: false)
                let (evidence, _, tcb) = try verifier.verifyQuote(bytes, at: time)
                outcome.evidence = evidence
                outcome.checks = [
                    "PCK certificate chain to the pinned Intel SGX Root CA, valid at \(outcome.time)",
                    "QE report signed by the PCK key",
                    "QE report data binds the attestation key",
                    "quote signed by the attestation key",
                ]
                if let tcb {
                    outcome.checks += [
                        "root CA and PCK CRLs signed and current; no certificate revoked",
                        "TCB Info and QE Identity signed by the TCB Signing chain and current",
                        "FMSPC \(evidence.measurements["fmspc"] ?? "") matches the TCB Info",
                        "TCB level: platform \(tcb.platformStatus), QE \(tcb.qeStatus)" + (tcb.moduleStatus.map { ", TDX module \($0)" } ?? ""),
                    ]
                } else {
                    outcome.notes.append("TCB status not evaluated: no Intel collateral for this quote was given (--collateral DIR)")
                }
            }
            if outcome.evidence?.debug == true {
                outcome.notes.append("this is a DEBUG \(detected == .snp ? "guest" : "enclave/TD"): its memory is open to the host")
            }
        } catch let error as ArcaError {
            outcome.error = error
        } catch {
            outcome.error = ArcaError(.invalidFormat, "\(error)")
        }
        return outcome
    }

    static func parseKind(_ text: String) throws -> EvidenceKind {
        switch text.lowercased() {
        case "sgx": return .sgx
        case "tdx": return .tdx
        case "snp", "sev-snp": return .snp
        default: throw ArcaError(.invalidArgument, "--kind '\(text)' is not sgx, tdx or snp")
        }
    }

    /// DCAP quotes start with version 3–5 and key type 2; SNP reports with version 2–5 and
    /// signature algorithm 1 at 0x34.
    static func detect(_ bytes: [UInt8]) throws -> EvidenceKind {
        func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        if bytes.count >= 48, (3...5).contains(u16(0)), u16(2) == 2 {
            return u32(4) == 0x81 ? .tdx : .sgx
        }
        if bytes.count >= SNPReport.size, (2...5).contains(u32(0)), u32(0x34) == 1 {
            return .snp
        }
        throw ArcaError(.invalidFormat, "cannot tell what kind of evidence this is (not a DCAP quote or an SNP report); pass --kind")
    }
}

/// A minimal JSON value with sorted keys, so output is stable.
enum JSONValue {
    case string(String), bool(Bool), null
    case array([JSONValue]), object([String: JSONValue])

    func encoded() -> String {
        switch self {
        case .string(let s): return Self.quote(s)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let items): return "[" + items.map { $0.encoded() }.joined(separator: ",") + "]"
        case .object(let members):
            return "{" + members.keys.sorted().map { Self.quote($0) + ":" + members[$0]!.encoded() }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case let c where c.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(c.value, radix: 16).count) + String(c.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
