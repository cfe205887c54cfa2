import ArcaAttestation
import ArcaCore
import ArcaKeeperAPI
import Crypto
import FoundationEssentials

/// The runtime's attestation to the keeper: a fresh ephemeral P-256 key, a nonce, evidence that
/// binds nonce, key and measurement (`ReportDataBinding`), the release sealed to that key; both
/// requests on one pinned TLS connection.
/// Nothing here logs; the payload holds the service's keys and secrets and goes only to the caller.
public enum KeeperLink {
    /// Attests to the keeper and returns the released payload.
    ///
    /// - Parameters:
    ///   - keeperURL: `https://HOST[:PORT]` (see `KeeperAddress.resolve` for `ARCA_KEEPER`).
    ///   - pin: the keeper's key fingerprint from the measured config.
    ///   - measurement: the image's measurement (32 bytes).
    ///   - evidenceProvider: e.g. `SimEvidenceProvider.fromEnvironment(measurement:)`.
    /// - Throws: `ArcaError` with code `keeperUnreachable`, `tlsFailure`, `pinMismatch`,
    ///   `keeperRefused` (the keeper's reason in `keeperRefusal`), `invalidFormat`, `integrity`…
    public static func attest(keeperURL: String, pin: String, session: String, service: String, measurement: [UInt8],
                              evidenceProvider: any EvidenceProvider,
                              options: KeeperLinkOptions = KeeperLinkOptions()) throws -> ReleasePayload {
        try attest(keeper: KeeperAddress(url: keeperURL), pin: pin, session: session, service: service,
                   measurement: measurement, evidenceProvider: evidenceProvider, options: options)
    }

    /// The same, for an address already resolved (e.g. by `KeeperAddress.resolve(measured:)`, which honours `ARCA_KEEPER`).
    public static func attest(keeper: KeeperAddress, pin: String, session: String, service: String, measurement: [UInt8],
                              evidenceProvider: any EvidenceProvider,
                              options: KeeperLinkOptions = KeeperLinkOptions()) throws -> ReleasePayload {
        let client = try KeeperHTTPSClient(address: keeper, pin: pin, options: options)
        var connection: KeeperHTTPSConnection?
        return try attest(client: client, connection: &connection, keepOpen: false, session: session, service: service,
                          measurement: measurement, evidenceProvider: evidenceProvider)
    }

    /// One attestation on `connection` if it is open and reusable (else on a new one). With
    /// `keepOpen`, the connection is left open for the next attestation and handed back in
    /// `connection`; otherwise (and after any failure) `connection` is nil.
    static func attest(client: KeeperHTTPSClient, connection: inout KeeperHTTPSConnection?, keepOpen: Bool,
                       session: String, service: String, measurement: [UInt8],
                       evidenceProvider: any EvidenceProvider) throws -> ReleasePayload {
        guard measurement.count == 32 else {
            throw ArcaError(.invalidArgument, "measurement is \(measurement.count) bytes, expected 32")
        }
        let ephemeral = try ReleaseEnvelope.makeEphemeralKey()
        let ephemeralPublic = Array(ephemeral.publicKey.x963Representation)

        // Nonce and release share one kept-alive connection (one handshake); a keeper or proxy that
        // closes after the nonce gets a second connection.
        var live = try connection.flatMap { $0.isReusable ? $0 : nil } ?? client.connect()
        connection = nil
        let nonceResponse = try live.post("\(KeeperAPI.prefix)/nonce", NonceRequest(session: session, service: service),
                                          as: NonceResponse.self, keepAlive: true)
        guard let nonce = Hex.decode(nonceResponse.nonce), (16...64).contains(nonce.count) else {
            throw ArcaError(.invalidFormat, "the keeper at \(client.address) sent nonce \(printable(nonceResponse.nonce.utf8, limit: 140)), not 16…64 bytes of hex")
        }

        let reportData = try ReportDataBinding.reportData(nonce: nonce, ephemeralKey: ephemeralPublic, measurement: measurement)
        let kind = try evidenceProvider.kind()
        let evidence = try evidenceProvider.evidence(reportData: reportData)
        let request = ReleaseRequest(session: session, service: service, nonce: nonceResponse.nonce,
                                     evidenceKind: kind.rawValue, evidence: Data(evidence).base64EncodedString(),
                                     ephemeralPublicKey: Hex.encode(ephemeralPublic))
        if !live.isReusable { live = try client.connect() }
        let release = try live.post("\(KeeperAPI.prefix)/release", request, as: ReleaseResponse.self, keepAlive: keepOpen)
        if keepOpen && live.isReusable { connection = live }

        guard release.evidenceKind == kind.rawValue else {
            throw ArcaError(.integrity, "the keeper at \(client.address) accepted evidence kind \(printable(release.evidenceKind.utf8, limit: 20)), but \(kind) was sent")
        }
        guard let keeperKey = Hex.decode(release.keeperPublicKey), keeperKey.count == 65,
              let ciphertext = Data(base64Encoded: release.ciphertext) else {
            throw ArcaError(.invalidFormat, "the keeper at \(client.address) sent a release whose key is not 65 bytes of hex or whose ciphertext is not base64")
        }
        let plaintext = try ReleaseEnvelope.open(Array(ciphertext), keeperPublicKey: keeperKey, privateKey: ephemeral, nonce: nonce)
        let payload: ReleasePayload
        do {
            payload = try JSONDecoder().decode(ReleasePayload.self, from: Data(plaintext))
        } catch {
            // The plaintext holds secrets: say only how long it was.
            throw ArcaError(.invalidFormat, "the release from the keeper at \(client.address) is not a release payload (\(plaintext.count) bytes)")
        }
        guard payload.session == session, payload.service == service else {
            throw ArcaError(.integrity, "the keeper at \(client.address) released session \(printable(payload.session.utf8, limit: 140)) service \(printable(payload.service.utf8, limit: 80)), not \(session) \(service)")
        }
        return payload
    }
}

/// Repeated attestations over one kept-alive TLS connection, reopened when the keeper closes it:
/// for a client that attests many times, such as the keeper benchmark's persistent-connection
/// mode. `arca-init` attests once per start and uses `KeeperLink.attest`. Not thread-safe.
public final class KeeperLinkAttester {
    private let client: KeeperHTTPSClient
    private(set) var connection: KeeperHTTPSConnection?  // internal for tests

    public init(keeper: KeeperAddress, pin: String, options: KeeperLinkOptions = KeeperLinkOptions()) throws {
        client = try KeeperHTTPSClient(address: keeper, pin: pin, options: options)
    }

    /// Attests as `KeeperLink.attest` does (a fresh ephemeral key and nonce each time) and keeps the connection.
    public func attest(session: String, service: String, measurement: [UInt8],
                       evidenceProvider: any EvidenceProvider) throws -> ReleasePayload {
        try KeeperLink.attest(client: client, connection: &connection, keepOpen: true, session: session, service: service,
                              measurement: measurement, evidenceProvider: evidenceProvider)
    }
}
