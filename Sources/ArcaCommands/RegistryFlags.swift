import ArcaCore
import ArcaOCI
import ArcaRegistry
import ArgumentParser

/// Registry flags for commands that read one image (`inspect`, `measure`, `verify`, `run`).
struct RegistryFlags: ParsableArguments {
    @Option(help: "Registry credentials USER:PASS (else auth files and credential helpers are searched).") var creds: String?
    @Option(help: "A containers-auth.json file to read credentials from.") var authfile: String?
    @Option(help: "A directory of CA certificates (*.crt) and client certificates for the registry.") var certDir: String?
    @Option(help: "Verify the registry's TLS certificate (false: verify nothing, with a warning).") var tlsVerify: Bool = true
    @Flag(help: "Allow plain HTTP to this registry (always allowed for localhost and 127.0.0.1).") var insecure = false
    @Option(help: "How often to retry a request on 429, 5xx or a dropped connection.") var retryTimes: Int = 3

    func options() throws -> RegistryOptions {
        try makeRegistryOptions(creds: creds, authfile: authfile, certDir: certDir, tlsVerify: tlsVerify, insecure: insecure,
                                retries: retryTimes)
    }
}

/// Registry flags for the two sides of `copy` and `seal`.
struct CopyRegistryFlags: ParsableArguments {
    @Option(help: "Credentials USER:PASS for the source registry.") var srcCreds: String?
    @Option(help: "Credentials USER:PASS for the destination registry.") var destCreds: String?
    @Option(help: "A containers-auth.json file for both registries.") var authfile: String?
    @Option(help: "CA certificate directory for the source registry.") var srcCertDir: String?
    @Option(help: "CA certificate directory for the destination registry.") var destCertDir: String?
    @Option(help: "Verify the source registry's TLS certificate.") var srcTlsVerify: Bool = true
    @Option(help: "Verify the destination registry's TLS certificate.") var destTlsVerify: Bool = true
    @Flag(help: "Allow plain HTTP to both registries (always allowed for localhost and 127.0.0.1).") var insecure = false
    @Option(help: "How often to retry a request on 429, 5xx or a dropped connection.") var retryTimes: Int = 3

    func sourceOptions() throws -> RegistryOptions {
        try makeRegistryOptions(creds: srcCreds, authfile: authfile, certDir: srcCertDir, tlsVerify: srcTlsVerify,
                                insecure: insecure, retries: retryTimes)
    }

    func destinationOptions() throws -> RegistryOptions {
        try makeRegistryOptions(creds: destCreds, authfile: authfile, certDir: destCertDir, tlsVerify: destTlsVerify,
                                insecure: insecure, retries: retryTimes)
    }
}

private func makeRegistryOptions(creds: String?, authfile: String?, certDir: String?, tlsVerify: Bool, insecure: Bool,
                                 retries: Int) throws -> RegistryOptions {
    guard retries >= 0 && retries <= 20 else { throw ValidationError("--retry-times takes 0-20") }
    var options = RegistryOptions()
    options.credentials = try creds.map { try RegistryCredentials(parsing: $0) }
    if let authfile { options.credentialStore = CredentialStore(authFile: authfile) }
    options.certDirectory = certDir
    options.tlsVerify = tlsVerify
    options.insecure = insecure
    options.retries = retries
    options.warn = { printError("warning: \($0)") }
    return options
}

/// Opens the store a reference names, registries included (ArcaOCI cannot know about them).
enum Stores {
    static func source(_ reference: ImageReference, registry: RegistryOptions) throws -> any ImageSource {
        if case .registry(let name) = reference { return try RegistryStores.source(name, options: registry) }
        return try ImageStores.source(reference)
    }

    /// `mountFrom`: when the source is a repository of the same registry, its blobs are mounted, not uploaded.
    static func destination(_ reference: ImageReference, registry: RegistryOptions, from source: ImageReference? = nil) throws -> any ImageDestination {
        guard case .registry(let name) = reference else { return try ImageStores.destination(reference) }
        var options = registry
        if case .registry(let origin)? = source, origin.registry == name.registry, origin.repository != name.repository {
            options.mountFrom = origin.repository
        }
        return try RegistryStores.destination(name, options: options)
    }
}
