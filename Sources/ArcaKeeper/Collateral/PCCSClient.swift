import ArcaAttestation
import ArcaCore
import ArcaSession
import AsyncHTTPClient
import FoundationEssentials
import NIOCore
import NIOHTTP1
import NIOSSL

/// Fetches Intel collateral from a PCCS-compatible endpoint (Intel PCS v4 API paths, as served by
/// Intel's PCCS and by cloud caching services):
///
///     GET {base}/{sgx|tdx}/certification/v4/tcb?fmspc=F     TCB-Info-Issuer-Chain header
///     GET {base}/{sgx|tdx}/certification/v4/qe/identity     SGX-Enclave-Identity-Issuer-Chain header
///     GET {base}/sgx/certification/v4/pckcrl?ca=C&encoding=der   SGX-PCK-CRL-Issuer-Chain header
///     GET {root CRL URL}  (default {base}/sgx/certification/v4/rootcacrl; PCCS answers hex DER)
///
/// Issuer chains arrive URL-encoded PEM in the headers. Nothing fetched is trusted: the caller
/// validates it against the pinned Intel root (`IntelCollateral.validate`) before using or
/// caching it. Owns an `HTTPClient`; call `shutdown()` when done.
public final class PCCSClient: Sendable {
    /// The endpoint, without a trailing slash.
    public let baseURL: String
    public let rootCRLURL: String
    let client: HTTPClient
    let timeout: TimeAmount

    /// A body larger than this is refused (TCB Info for one FMSPC is ~10 KiB, PCK CRLs ~100 KiB).
    static let bodyLimit = 4 << 20
    /// An issuer-chain header longer than this is refused (a 2-certificate chain is ~3 KiB encoded).
    static let headerLimit = 64 << 10

    /// - Parameters:
    ///   - baseURL: `https://pccs.example:8081` or `https://api.trustedservices.intel.com`.
    ///   - rootCRLURL: where the Intel SGX Root CA CRL is; Intel PCS does not serve `rootcacrl`,
    ///     so with PCS pass `https://certificates.trustedservices.intel.com/IntelSGXRootCA.der`.
    ///   - verifyTLS: false accepts any server certificate (PCCS installs use self-signed ones).
    ///     Collateral integrity does not rest on TLS: every document is signed by Intel.
    public init(baseURL: String, rootCRLURL: String? = nil, verifyTLS: Bool = true, timeoutSeconds: Int64 = 10) throws {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        guard base.hasPrefix("https://") || base.hasPrefix("http://"), base.count > 8 else {
            throw ArcaError(.invalidArgument, "pccs url \(baseURL) must start with https:// or http://")
        }
        self.baseURL = base
        self.rootCRLURL = rootCRLURL ?? base + "/sgx/certification/v4/rootcacrl"
        var tls = TLSConfiguration.makeClientConfiguration()
        if !verifyTLS { tls.certificateVerification = .none }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow)
        configuration.connectionPool = .init(idleTimeout: .seconds(30))
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.timeout = .seconds(timeoutSeconds)
    }

    public func shutdown() async throws { try await client.shutdown() }

    /// Fetches TCB Info and QE Identity for `kind` (`.sgx` or `.tdx`) and `fmspc`, the PCK CRL of
    /// `ca`, and the root CA CRL. Unvalidated: pass the result to `IntelCollateral.validate`.
    public func fetch(kind: EvidenceKind, fmspc: String, ca: IntelCollateral.PCKCertificateAuthority) async throws -> IntelCollateral {
        guard kind == .sgx || kind == .tdx else { throw ArcaError(.invalidArgument, "pccs serves sgx and tdx collateral, not \(kind)") }
        guard fmspc.utf8.count == 12, Hex.decode(fmspc) != nil else {
            throw ArcaError(.invalidArgument, "fmspc \(SessionValidator.quoted(fmspc)) is not 12 hex digits")
        }
        let tee = kind == .tdx ? "tdx" : "sgx"
        let tcbURL = "\(baseURL)/\(tee)/certification/v4/tcb?fmspc=\(fmspc.lowercased())"
        let qeURL = "\(baseURL)/\(tee)/certification/v4/qe/identity"
        let crlURL = "\(baseURL)/sgx/certification/v4/pckcrl?ca=\(ca.rawValue)&encoding=der"
        async let tcbResponse = get(tcbURL)
        async let qeResponse = get(qeURL)
        async let crlResponse = get(crlURL)
        async let rootResponse = get(rootCRLURL)
        let (tcb, qe, crl, root) = try await (tcbResponse, qeResponse, crlResponse, rootResponse)
        let chain = try Self.issuerChain(tcb.headers, names: ["TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"], url: tcbURL)
        let tcbInfo = try Self.wrap(tcbURL) { try SignedCollateral(responseBody: tcb.body, member: "tcbInfo", issuerChain: chain) }
        let qeChain = try Self.issuerChain(qe.headers, names: ["SGX-Enclave-Identity-Issuer-Chain"], url: qeURL)
        let qeIdentity = try Self.wrap(qeURL) { try SignedCollateral(responseBody: qe.body, member: "enclaveIdentity", issuerChain: qeChain) }
        let crlChain = try Self.issuerChain(crl.headers, names: ["SGX-PCK-CRL-Issuer-Chain"], url: crlURL)
        let pckCRL = try Self.wrap(crlURL) { try RevocationList(der: try Self.crlBytes(crl.body)) }
        let rootCRL = try Self.wrap(rootCRLURL) { try RevocationList(der: try Self.crlBytes(root.body)) }
        return IntelCollateral(tcbInfo: tcbInfo, qeIdentity: qeIdentity, pckCRL: pckCRL, pckCRLIssuerChain: crlChain, rootCRL: rootCRL)
    }

    /// One GET: 200 with a body under the limit, or an error naming the URL and the status.
    func get(_ url: String) async throws -> (body: [UInt8], headers: HTTPHeaders) {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "*/*")
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: timeout)
        } catch {
            throw ArcaError(.io, "pccs request \(url) failed: \(error)", cause: error)
        }
        guard response.status == .ok else {
            // Drain (bounded) so the connection can be reused; the body only feeds the message.
            let detail = (try? await response.body.collect(upTo: 1024)).map { String(buffer: $0) } ?? ""
            let code: ArcaError.Code = response.status == .notFound ? .notFound : .io
            let hint = response.status == .notFound ? " (the pccs has no collateral for this platform; check the fmspc and the pccs cache)" : ""
            throw ArcaError(code, "pccs answered \(response.status.code) \(response.status.reasonPhrase) for \(url)\(hint)"
                                  + (detail.isEmpty ? "" : ": \(String(detail.prefix(200)))"))
        }
        let buffer: ByteBuffer
        do {
            buffer = try await response.body.collect(upTo: Self.bodyLimit)
        } catch let error as NIOTooManyBytesError {
            throw ArcaError(.limitExceeded, "pccs answer for \(url) is over the \(Self.bodyLimit) byte limit", cause: error)
        } catch {
            throw ArcaError(.io, "pccs answer for \(url) was cut off: \(error)", cause: error)
        }
        return (Array(buffer.readableBytesView), response.headers)
    }

    /// The URL-decoded PEM chain of the first header present.
    static func issuerChain(_ headers: HTTPHeaders, names: [String], url: String) throws -> [VendorCertificate] {
        guard let value = names.lazy.compactMap({ headers.first(name: $0) }).first else {
            throw ArcaError(.invalidFormat, "pccs answer for \(url) has no \(names[0]) header")
        }
        guard value.utf8.count <= headerLimit else {
            throw ArcaError(.limitExceeded, "pccs \(names[0]) header for \(url) is over the \(headerLimit) byte limit")
        }
        guard let pem = percentDecode(value) else {
            throw ArcaError(.invalidFormat, "pccs \(names[0]) header for \(url) is not valid URL-encoding")
        }
        return try wrap(url) { try PEMCertificates.parse(pem, what: "\(names[0]) header") }
    }

    /// Decodes `%XX` escapes and `+` (form encoding; Intel escapes a literal `+` as `%2B`).
    static func percentDecode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        var bytes = text.utf8.makeIterator()
        while let byte = bytes.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = bytes.next(), let low = bytes.next(), let value = Hex.decode(String(decoding: [high, low], as: UTF8.self)) else {
                    return nil
                }
                out.append(value[0])
            case UInt8(ascii: "+"): out.append(0x20)
            default: out.append(byte)
            }
        }
        return out
    }

    /// A CRL arrives as DER, as hex text of the DER (PCCS `rootcacrl`), or as PEM (`encoding=pem`).
    static func crlBytes(_ body: [UInt8]) throws -> [UInt8] {
        if body.first == 0x30 { return body }
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        let text = String(decoding: body.drop(while: isSpace).reversed().drop(while: isSpace).reversed(), as: UTF8.self)
        if text.hasPrefix("-----BEGIN X509 CRL-----") {
            let base64 = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).filter { !$0.hasPrefix("-----") }.joined()
            guard let der = Data(base64Encoded: base64) else { throw ArcaError(.invalidFormat, "CRL PEM is not base64") }
            return Array(der)
        }
        guard let der = Hex.decode(text), !der.isEmpty else {
            throw ArcaError(.invalidFormat, "CRL is neither DER, hex DER nor PEM (\(body.count) bytes)")
        }
        return der
    }

    /// Prefixes an `ArcaError` from `body` with the URL it came from.
    static func wrap<T>(_ url: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as ArcaError where !error.message.hasPrefix("pccs ") {
            throw ArcaError(error.code, "pccs answer for \(url): \(error.message)", cause: error.cause)
        }
    }
}
