import ArcaAttestation
import ArcaCore
import ArcaKeeperAPI
import ArcaSession
import Crypto
import FoundationEssentials

/// One attestation-and-release: nonce, evidence, policy, binding, then the sealed payload.
/// The checks run in a fixed order and the first failure is the denial reason.
struct Release {
    let keeper: Keeper
    let request: ReleaseRequest

    func run(audit: inout AuditEntry) async throws -> ReleaseResponse {
        try Keeper.validName(request.session)
        guard let nonce = Hex.decode(request.nonce), nonce.count == 32 else {
            throw Denial(400, .malformedRequest, "nonce must be 64 hex digits")
        }
        guard let ephemeralBytes = Hex.decode(request.ephemeralPublicKey),
              let ephemeral = try? P256.KeyAgreement.PublicKey(x963Representation: ephemeralBytes) else {
            throw Denial(400, .malformedRequest, "ephemeralPublicKey must be a p-256 public key in x963 form, hex")
        }
        guard request.evidence.utf8.count <= KeeperAPI.maximumBodySize, let evidence = Data(base64Encoded: request.evidence) else {
            throw Denial(400, .malformedRequest, "evidence must be base64")
        }

        // 1. The nonce: single use (redeemed before anything else, so a failed attempt burns it),
        //    issued for this session and service, not expired. The session and the sim platform
        //    the evidence names are read in the same store step; they are checked below, in order.
        let platformID = request.evidenceKind == EvidenceKind.sim.rawValue
            ? (try? SimPlatform.unverifiedBody(of: Array(evidence)))?.platformKeyID : nil
        let records = try await keeper.store.redeemNonce(request.nonce, readingSession: request.session, platform: platformID)
        guard let record = records.nonce else {
            throw Denial(403, .nonceUnknown, "nonce is unknown or was already used")
        }
        guard record.session == request.session, record.service == request.service else {
            throw Denial(403, .nonceMismatch, "nonce was issued for another session or service")
        }
        let now = keeper.clock()
        guard record.expiresAt > now else {
            throw Denial(403, .nonceExpired, "nonce expired at \(Int64(record.expiresAt.timeIntervalSince1970))")
        }

        // 2. The session and service.
        guard let stored = records.session else {
            throw Denial(404, .sessionNotFound, "session \(request.session) does not exist")
        }
        let session = try keeper.unseal(stored)
        guard let service = session.service(named: request.service) else {
            throw Denial(404, .serviceNotFound, "session \(request.session) has no service \(SessionValidator.quoted(request.service))")
        }

        // 3. The evidence kind must be allowed by the session, then verified.
        let kind = EvidenceKind(rawValue: request.evidenceKind)
        guard session.security.allowedEvidence.contains(kind.rawValue) else {
            throw Denial(403, .evidenceKindNotAllowed,
                         "session \(request.session) does not allow \(SessionValidator.quoted(kind.rawValue)) evidence")
        }
        let verified = try await verify(kind: kind, evidence: Array(evidence), now: now, platform: records.platform)

        // 4. The platform: debug and TCB tolerances, then (hardware) the session's pins for its kind
        //    (MRENCLAVE, MRTD, SNP MEASUREMENT…): they vouch that the code which chose the report
        //    data is Arca's runtime. Then the Arca measurement, or signer and minimum version.
        let tolerate = Set(session.security.tolerate)
        if verified.debug && !tolerate.contains("debug") {
            throw Denial(403, .debugNotTolerated, "evidence is from a debug enclave or guest; the session does not tolerate debug")
        }
        if let status = verified.tcbStatus, status != "UpToDate", !tolerate.contains(status) {
            throw Denial(403, .tcbNotTolerated, "platform tcb status is \(status), not tolerated by the session")
        }
        if let advisory = verified.advisories.first(where: { !tolerate.contains($0) }) {
            throw Denial(403, .tcbNotTolerated, "platform is affected by advisory \(advisory), not tolerated by the session")
        }
        if kind != .sim {
            do {
                try HardwarePolicyMapping.policy(session.security).check(verified)
            } catch let error as ArcaError {
                throw Denial(403, .hardwarePolicyRejected, error.message)
            }
        }
        let measurement = try matchPolicy(verified, service: service, nonce: nonce, ephemeral: ephemeralBytes)

        // 5. The binding: the evidence must carry SHA-512(domain ‖ nonce ‖ ephemeral key ‖ measurement).
        let expected = try ReportDataBinding.reportData(nonce: nonce, ephemeralKey: ephemeralBytes, measurement: measurement)
        guard verified.reportData.count == 64, constantTimeEqual(verified.reportData, expected) else {
            throw Denial(403, .reportDataMismatch, "evidence report data is not bound to this nonce, ephemeral key and measurement")
        }

        // 6. Release.
        let payload = try payload(session: session, service: service, hash: stored.hash)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let sealed = try ReleaseEnvelope.seal(Array(try encoder.encode(payload)), to: ephemeral, nonce: nonce)
        audit.detail = "service=\(service.name) evidence=\(kind.rawValue) platform=\(verified.platform) measurement=\(Hex.encode(measurement))"
        if kind == .sim {
            audit.detail += " SIM-RELEASE: no hardware protection"
            keeper.logger.warning("sim release: keys released on software-only evidence",
                                  metadata: ["session": "\(request.session)", "service": "\(service.name)",
                                             "platform": "\(verified.platform)"])
        }
        keeper.observer?(.released(kind))
        return ReleaseResponse(keeperPublicKey: Hex.encode(sealed.ephemeralPublicKey),
                               ciphertext: Data(sealed.ciphertext).base64EncodedString(), evidenceKind: kind.rawValue)
    }

    /// - Parameter platform: the registered platform the `sim` evidence names, if any.
    private func verify(kind: EvidenceKind, evidence: [UInt8], now: Date, platform: PlatformRecord?) async throws -> VerifiedEvidence {
        let verifier: any EvidenceVerifier
        if kind == .sim {
            let body: SimEvidenceBody
            do {
                body = try SimPlatform.unverifiedBody(of: evidence)
            } catch let error as ArcaError {
                throw Denial(403, .evidenceInvalid, error.message)
            }
            guard let platform, platform.id == body.platformKeyID,
                  let key = keeper.platformKeys.key(id: platform.id, der: platform.publicKeyDER) else {
                throw Denial(403, .platformUnregistered,
                             "sim platform key \(SessionValidator.quoted(body.platformKeyID)) is not registered with this keeper")
            }
            verifier = SimEvidenceVerifier(platformKeys: [platform.id: key])
        } else if let hardware = keeper.verifiers[kind] {
            verifier = hardware
        } else {
            throw Denial(403, .evidenceUnsupported, "this keeper has no verifier for \(SessionValidator.quoted(kind.rawValue)) evidence")
        }
        do {
            if let fetching = verifier as? any CollateralFetchingVerifier {
                return try await fetching.verifyFetchingCollateral(evidence, at: now)
            }
            return try verifier.verify(evidence, at: now)
        } catch let error as ArcaError {
            throw Denial(403, .evidenceInvalid, error.message)
        }
    }

    /// Returns the Arca measurement the evidence is accepted for.
    private func matchPolicy(_ verified: VerifiedEvidence, service: Service, nonce: [UInt8], ephemeral: [UInt8]) throws -> [UInt8] {
        let candidates: [String]
        if let arca = verified.measurements["arca"] {
            candidates = [arca]
        } else {
            // Hardware evidence binds the Arca measurement only through the report data: find the
            // expected measurement whose binding the evidence carries.
            candidates = service.measurements.filter { m in
                guard let bytes = Hex.decode(m) else { return false }
                return (try? ReportDataBinding.reportData(nonce: nonce, ephemeralKey: ephemeral, measurement: bytes)) == verified.reportData
            }
        }
        if verified.measurements["arca"] == nil && candidates.isEmpty {
            // Hardware evidence: a binding to another nonce or key and one to a measurement the
            // service does not accept look the same.
            throw Denial(403, .reportDataMismatch,
                         "evidence report data binds none of the measurements service \(service.name) accepts to this nonce and ephemeral key")
        }
        guard let measurementHex = candidates.first, let measurement = Hex.decode(measurementHex), measurement.count == 32 else {
            throw Denial(403, .measurementMismatch, "evidence carries no arca measurement the service \(service.name) expects")
        }
        if service.measurements.contains(measurementHex) { return measurement }
        guard let signer = service.signer else {
            throw Denial(403, .measurementMismatch, "measurement \(measurementHex) is not one the service \(service.name) accepts")
        }
        guard verified.measurements["mrsigner"] == signer.signer else {
            throw Denial(403, .signerMismatch, "evidence signer is not \(signer.signer) and measurement \(measurementHex) is not listed")
        }
        guard let version = verified.measurements["isvsvn"].flatMap(UInt64.init), version >= signer.minimumVersion else {
            throw Denial(403, .versionBelowMinimum,
                         "signer version \(verified.measurements["isvsvn"] ?? "none") is below the minimum \(signer.minimumVersion)")
        }
        return measurement
    }

    private func payload(session: Session, service: Service, hash: String) throws -> ReleasePayload {
        var environment = service.environment
        var files: [ReleasePayload.SecretFile] = []
        for name in service.secrets {
            guard let secret = session.secrets.first(where: { $0.name == name }), let value = secret.value else { continue }
            let bytes: [UInt8] = secret.kind == .binary ? Array(Data(base64Encoded: value) ?? Data()) : Array(value.utf8)
            if let env = secret.env { environment[env] = value }
            if let file = secret.file { files.append(.init(path: file, content: Data(bytes).base64EncodedString())) }
        }
        let images = service.images.isEmpty ? Array(session.keys.keys) : service.images
        let keys = Dictionary(uniqueKeysWithValues: images.compactMap { name in session.keys[name].map { (name, $0) } })
        let volumes: [ReleasePayload.Volume] = service.volumes.compactMap { name in
            guard let volume = session.volumes.first(where: { $0.name == name }), let key = volume.key else { return nil }
            return .init(name: name, path: volume.path, key: key,
                         anchorToken: keeper.masterKey.anchorToken(session: session.name, volume: name))
        }
        return ReleasePayload(session: session.name, service: service.name, sessionHash: hash, keys: keys, volumes: volumes,
                              command: service.command, environment: environment, workingDir: service.workingDir,
                              user: service.user, allowHostEnv: service.allowHostEnv, allowHostArgs: service.allowHostArgs,
                              files: files)
    }
}
