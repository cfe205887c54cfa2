import ArcaCore
import ArcaOCI
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How Arca talks to a registry: credentials, TLS, retries and upload tuning.
///
/// The CLI flags map onto it (see docs/REGISTRIES.md): `--creds`, `--authfile`, `--cert-dir`,
/// `--tls-verify`, `--insecure`, `--retry-times`; `mountFrom` is set by the CLI when both images
/// are in one registry; the upload tuning has no flag.
public struct RegistryOptions: Sendable {
    /// Explicit credentials (`--creds USER:PASS`); when nil they are looked up in `credentialStore`.
    public var credentials: RegistryCredentials?
    /// Where credentials are looked up when none are given explicitly (auth files, helpers).
    public var credentialStore: CredentialStore
    /// A directory of `*.crt` CA certificates (and optional `*.cert`/`*.key` client pairs) for this
    /// registry. When nil, `/etc/containers/certs.d/HOST[:PORT]` and `/etc/docker/certs.d/HOST[:PORT]` are used if present.
    public var certDirectory: String?
    /// False disables certificate verification (a warning is printed); plain HTTP stays limited
    /// to loopback and `insecure` registries.
    public var tlsVerify: Bool
    /// Allows plain HTTP for this registry (always allowed for localhost and 127.0.0.1).
    public var insecure: Bool
    /// How often a request is tried again after a 429, a 5xx or a connection failure.
    public var retries: Int
    /// The first retry delay; each further retry waits twice as long (Retry-After wins when shorter than 60 s).
    public var retryDelay: Duration
    /// A repository on the same registry that may hold the blobs already: pushes try a
    /// cross-repository mount from it before uploading.
    public var mountFrom: String?
    /// The size of each `PATCH` of a chunked upload (raised to the registry's `OCI-Chunk-Min-Length`).
    /// A blob no larger than this goes up in one monolithic `PUT`.
    public var chunkSize: Int
    /// Blobs larger than `chunkSize` go up as one streamed `PATCH` (as docker and skopeo do):
    /// much faster than chunks on common registries, but a failure mid-stream is not retried
    /// (the bytes are gone). False: `PATCH` chunks of `chunkSize`, each retried on failure.
    public var streamUploads: Bool
    public var connectTimeout: Duration
    /// The longest wait for data on an open connection.
    public var readTimeout: Duration
    /// Where warnings go (for example about `tlsVerify = false`); standard error by default.
    public var warn: @Sendable (String) -> Void

    public init(credentials: RegistryCredentials? = nil, credentialStore: CredentialStore = CredentialStore(),
                certDirectory: String? = nil, tlsVerify: Bool = true, insecure: Bool = false,
                retries: Int = 3, retryDelay: Duration = .milliseconds(500), mountFrom: String? = nil,
                chunkSize: Int = 8 << 20, streamUploads: Bool = true, connectTimeout: Duration = .seconds(10), readTimeout: Duration = .seconds(120),
                warn: @escaping @Sendable (String) -> Void = { printWarning($0) }) {
        self.credentials = credentials
        self.credentialStore = credentialStore
        self.certDirectory = certDirectory
        self.tlsVerify = tlsVerify
        self.insecure = insecure
        self.retries = retries
        self.retryDelay = retryDelay
        self.mountFrom = mountFrom
        self.chunkSize = chunkSize
        self.streamUploads = streamUploads
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.warn = warn
    }

    /// Checks the values a user can set.
    func validate() throws {
        guard (0...20).contains(retries) else {
            throw ArcaError(.invalidArgument, "retry count \(retries) is outside 0...20")
        }
        guard (64 << 10...512 << 20).contains(chunkSize) else {
            throw ArcaError(.invalidArgument, "upload chunk size \(formatBytes(chunkSize)) is outside 64 KiB...512 MiB")
        }
        if let mountFrom {
            // Parsed as a repository on a placeholder host, so the usual name rules apply.
            let parsed = try? RegistryReference(parsing: "registry.invalid/" + mountFrom)
            guard parsed?.repository == mountFrom else {
                throw ArcaError(.invalidArgument, "mount-from repository \"\(mountFrom.prefix(200))\" is not a repository name (lowercase path components, no tag)")
            }
        }
    }
}

/// Writes `warning: MESSAGE` to standard error.
public func printWarning(_ message: String) {
    var line = Array("warning: \(message)\n".utf8)
    line.withUnsafeMutableBytes { bytes in
        var offset = 0
        while offset < bytes.count {
            let n = write(2, bytes.baseAddress! + offset, bytes.count - offset)
            if n <= 0 { break }
            offset += n
        }
    }
}
