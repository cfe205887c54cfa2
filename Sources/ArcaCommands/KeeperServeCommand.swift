import ArcaAttestation
import ArcaCore
import ArcaKeeper
import ArgumentParser
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// `arca keeper serve`: HTTPS (TLS 1.3) until SIGTERM.
struct KeeperServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the keeper API over HTTPS until SIGTERM or SIGINT.",
        discussion: """
            On first start the keeper creates its master key and TLS identity in --data (0600) and prints \
            the public-key fingerprint that `arca seal --keeper-pin` and `arca session --keeper-pin` take.
            """)

    @Option(name: .long, help: "HOST:PORT to listen on.")
    var listen: String = "127.0.0.1:8443"

    @OptionGroup var store: KeeperStoreOptions

    @Option(name: .long, help: "Lifetime of an attestation nonce, in seconds.")
    var nonceSeconds: Int = 60

    @Option(name: .long, help: "Requests per second allowed per client (burst: twice as many).")
    var rateLimit: Int = 50

    @Option(name: .long, help: "Attestation collateral directory (intel/, amd/) for SGX, TDX and SNP evidence, besides what `keeper collateral import` stored in --data.")
    var collateral: String?

    @Option(name: .long, help: "PCCS-compatible endpoint for Intel collateral (https://pccs:8081 or https://api.trustedservices.intel.com).")
    var pccs: String?

    @Option(name: .long, help: "Intel SGX Root CA CRL URL (default: the PCCS rootcacrl path; with Intel PCS use https://certificates.trustedservices.intel.com/IntelSGXRootCA.der).")
    var pccsRootCrl: String?

    @Flag(name: .long, help: "Accept any TLS certificate from the PCCS (self-signed installs); the collateral is still checked against Intel's signatures.")
    var pccsInsecureTls = false

    func run() async throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
              (0...65535).contains(port), colon != listen.startIndex else {
            throw ValidationError("--listen \(listen) is not HOST:PORT")
        }
        guard nonceSeconds >= 1 && nonceSeconds <= 3600 else { throw ValidationError("--nonce-seconds must be 1…3600") }
        guard rateLimit >= 1 else { throw ValidationError("--rate-limit must be at least 1") }
        let host = String(listen[..<colon]).trimmingCharacters(in: ["[", "]"])
        LoggingSystem.bootstrap { JSONLogHandler(label: $0) }
        let logger = Logger(label: "arca.keeper")
        // Hardware verifiers are always there; without collateral (imported, --collateral or
        // --pccs), SGX/TDX evidence is refused (its TCB cannot be evaluated) and SNP needs the
        // VCEK in the report's certificate table.
        let collateral = try KeeperCollateral.load(data: store.data, extra: self.collateral)
        let pccsClient = try pccs.map { try PCCSClient(baseURL: $0, rootCRLURL: pccsRootCrl, verifyTLS: !pccsInsecureTls) }
        let verifiers = KeeperCollateral.verifiers(collateral: collateral, pccs: pccsClient)
        let configuration = KeeperService.Configuration(
            dataDirectory: store.data, databaseURL: store.database,
            server: .init(host: host, port: port, rateBurst: rateLimit * 2, ratePerSecond: Double(rateLimit)),
            nonceLifetime: Double(nonceSeconds), verifiers: verifiers)
        do {
            try await KeeperService.run(configuration, logger: logger) { pin, created, boundPort in
                let note = created ? "created a new TLS identity in \(store.data)" : "TLS identity from \(store.data)"
                // Written straight to fd 1: stdout may be a pipe, and scripts wait for the pin line.
                writeStandardOutput("keeper listening on https://\(host):\(boundPort) (\(note))\nkeeper pin (--keeper-pin): \(pin)\n")
            }
        } catch {
            try? await pccsClient?.shutdown()
            throw error
        }
        try await pccsClient?.shutdown()
    }
}

/// Writes unbuffered to standard output.
func writeStandardOutput(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress! + offset, $0.count - offset) }
        if written < 0 && errno == EINTR { continue }
        guard written > 0 else { return }
        offset += written
    }
}
