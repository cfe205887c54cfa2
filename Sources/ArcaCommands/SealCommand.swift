import ArcaArchive
import ArcaCore
import ArcaCrypto
import ArcaOCI
import ArcaRuntimeLayer
import ArcaSeal
import ArcaSession
import ArgumentParser
import FoundationEssentials

struct SealCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seal",
        abstract: "Turn a native image into a confidential image, its measurement and its session.",
        discussion: """
            Every path of the image is authenticated (integrity: SHA-256 per 64 KiB chunk) unless \
            the policy says otherwise; the longest matching path wins. Encrypted paths are sealed \
            with AES-256-GCM and removed from the image's layers; layers that hold no encrypted \
            path are kept byte for byte. The sealed image starts /.arca/bin/arca-init, which \
            attests to the keeper before the service runs.

            The session (measurement, service command, policy and the master key) goes to \
            --session-out, created 0600. Keys are never printed. Register it with \
            `arca session create FILE --keeper URL`.

            Same input, same --keys and same SOURCE_DATE_EPOCH give a byte-identical image. \
            What a seal made of each layer is cached (--cache, --no-cache; docs/SEALING.md), so a \
            re-seal after a change to the top layer redoes only that layer.

            Policy file (YAML): encrypt: [PATH…], authenticate: [PATH…], ephemeral: [PATH…], \
            volumes: {NAME: PATH}, host: [PATH…] — see docs/POLICY.md.
            """)

    @Option(help: "The native image (oci:DIR[:TAG], docker-archive:FILE[:NAME:TAG]).") var from: String
    @Option(help: "Where to write the sealed image.") var to: String
    @Option(help: "Encrypt this path and everything below it (repeatable).") var encrypt: [String] = []
    @Option(help: "Authenticate this path (integrity only; the default for /) (repeatable).") var authenticate: [String] = []
    @Option(help: "Memory-backed scratch space at this path, lost on exit (repeatable).") var ephemeral: [String] = []
    @Option(help: "An encrypted, rollback-protected volume NAME mounted at PATH (repeatable).", transform: { $0 })
    var volume: [String] = []
    @Option(help: "Pass this host path through unprotected, e.g. /etc/resolv.conf (repeatable).") var host: [String] = []
    @Option(help: "A YAML policy file (combined with the flags).") var policy: String?
    @Flag(help: "Allow --encrypt of paths the image does not have.") var allowMissing = false
    @Option(help: "The session name, NAMESPACE/NAME (default arca/sealed).") var session: String?
    @Option(help: "The keeper's URL, recorded in the measured config.") var keeper: String?
    @Option(help: "The keeper's public-key fingerprint (SHA-256 hex, printed by `arca keeper serve`).") var keeperPin: String?
    @Flag(help: "Let the session accept `sim` evidence (no hardware protection: for development).") var allowSim = false
    @Option(help: "Write the session (with the keys) to this file, mode 0600.") var sessionOut: String?
    @Option(help: "The image master key file (64 hex digits); created (0600) if it does not exist.") var keys: String?
    @Option(help: "gzip level for rewritten and new layers (1-9).") var compressionLevel: Int32 = 1
    @Option(help: "The per-layer cache directory (default $XDG_CACHE_HOME/arca or ~/.cache/arca; created 0700).") var cache: String?
    @Flag(help: "Use no per-layer cache: process every layer.") var noCache = false
    @Option(help: ArgumentHelp("The most the per-layer cache keeps after a seal, e.g. 10G, 500M (0: no bound).",
                               discussion: "Older entries go first, least recently used; the seal's own entries always stay."))
    var cacheLimit: String = "10G"
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text
    @OptionGroup var image: ImageOptions
    @OptionGroup(title: "Registry options") var registry: CopyRegistryFlags
    @Flag(help: "Print no progress on stderr.") var quiet = false

    func validate() throws {
        if let keeperPin, keeperPin.count != 64 || Hex.decode(keeperPin) == nil {
            throw ValidationError("--keeper-pin must be 64 hex digits (the SHA-256 fingerprint `arca keeper serve` prints)")
        }
        _ = try Self.byteSize(cacheLimit, option: "--cache-limit")
        guard (1...9).contains(compressionLevel) else { throw ValidationError("--compression-level takes 1-9") }
    }

    func run() throws {
        var rules = try ProtectionPolicy.rules(encrypt: encrypt, authenticate: authenticate, ephemeral: ephemeral,
                                               volumes: volume, host: host)
        if let policy {
            rules += try ProtectionPolicy.rules(yaml: String(decoding: FileSystem.readFile(policy, limit: 1 << 20), as: UTF8.self), source: policy)
        }
        let protection = try ProtectionPolicy(rules)
        if !protection.paths(of: .encrypted).isEmpty && sessionOut == nil && keys == nil {
            throw ArcaError(.invalidArgument, "the policy encrypts \(protection.paths(of: .encrypted).joined(separator: ", ")): give --session-out FILE (or --keys FILE) so the key is not lost")
        }
        let masterKey = try loadOrCreateKey()
        let epoch = try sourceDateEpoch()
        let cacheBytes = try Self.byteSize(cacheLimit, option: "--cache-limit")

        let work = try FileSystem.makeTemporaryDirectory(prefix: "arca-runtime")
        defer { try? FileSystem.removeTree(work) }
        let cacheRoot = cacheDirectory()
        let (runtime, rememberRuntime) = try SealRuntime.input(arcaInit: RuntimeLayer.locateArcaInit(), modificationTime: epoch ?? 0, work: work,
                                            cacheRoot: cacheRoot, masterKey: masterKey)

        let source = try parseReference(from)
        let store = try Stores.source(source, registry: registry.sourceOptions())
        let resolved = try ImageResolver(platform: image.resolvedPlatform()).resolve(store)
        let destination = try Stores.destination(parseReference(to), registry: registry.destinationOptions(), from: source)
        var options = SealOptions(policy: protection, masterKey: masterKey, runtimeLayerTar: work + "/runtime.tar", session: session,
                                  keeperURL: keeper, keeperPin: keeperPin, allowedEvidence: allowSim ? ["sim"] : [],
                                  sourceDateEpoch: epoch, allowMissing: allowMissing, compressionLevel: compressionLevel,
                                  arcaVersion: ArcaCommand.version, cacheDirectory: cacheRoot, runtimeLayer: runtime)
        options.cacheLimit = cacheBytes
        let progress: any ProgressObserver = quiet || format == .json ? SilentProgress() : TerminalProgress()
        let result = try Sealer(options: options, progress: progress).seal(resolved, from: store, to: destination)
        rememberRuntime(result.measuredConfig.runtime)
        if let sessionOut {
            try FileSystem.writeAtomically(Array(SessionDocument.yaml(result.session).utf8), to: sessionOut, permissions: [.ownerReadWrite])
        }
        let summary = SealSummary(image: result.manifest.digest.description, measurement: result.measurement,
                                  session: result.session.name, sessionFile: sessionOut, keyID: masterKey.id,
                                  keptLayers: result.keptLayers, rewrittenLayers: result.rewrittenLayers,
                                  encryptedFiles: result.encryptedFiles, authenticatedFiles: result.authenticatedFiles,
                                  cacheHits: result.cacheHits, cacheMisses: result.cacheMisses, cacheRejected: result.cacheRejected,
                                  cacheTrimmedBytes: result.cacheTrimmedBytes)
        switch format {
        case .json: print(String(decoding: try CanonicalJSON.encode(summary), as: UTF8.self))
        case .text:
            print("""
                sealed image  \(summary.image)
                measurement   \(summary.measurement)
                session       \(summary.session)\(sessionOut.map { " (written to \($0), mode 0600)" } ?? "")
                master key    id \(summary.keyID)
                layers        \(summary.keptLayers) kept, \(summary.rewrittenLayers) rewritten, + runtime, blob and shield layers
                cache         \(summary.cacheHits) layer(s) from the cache, \(summary.cacheMisses) processed\(summary.cacheRejected.isEmpty ? "" : ", \(summary.cacheRejected.count) cache entr(ies) refused and recomputed")\(summary.cacheTrimmedBytes == 0 ? "" : ", \(formatBytes(summary.cacheTrimmedBytes)) of older entries removed (--cache-limit \(cacheLimit))")
                files         \(summary.authenticatedFiles) authenticated, \(summary.encryptedFiles) encrypted
                """)
        }
    }

    /// A size such as 4096, 500M or 10G (binary units: K, M, G, T, optionally followed by B or iB).
    static func byteSize(_ text: String, option: String) throws -> UInt64 {
        var digits = Substring(text.uppercased())
        for unit in ["IB", "B"] where digits.hasSuffix(unit) && digits.count > unit.count {
            digits = digits.dropLast(unit.count)
            break
        }
        var shift: UInt64 = 0
        if let last = digits.last, let index = "KMGT".firstIndex(of: last) {
            shift = 10 * UInt64("KMGT".distance(from: "KMGT".startIndex, to: index) + 1)
            digits = digits.dropLast()
        }
        guard let value = UInt64(digits), shift == 0 || value <= UInt64.max >> shift else {
            throw ValidationError("\(option) must be a size such as 10G, 500M or 4096, not \(text)")
        }
        return value << shift
    }

    /// `--cache`, else the default location; nil with `--no-cache` or when there is no home.
    private func cacheDirectory() -> String? {
        guard !noCache else { return nil }
        if let cache { return cache }
        return SealOptions.defaultCacheDirectory(environment: ["XDG_CACHE_HOME": environmentValue("XDG_CACHE_HOME"), "HOME": environmentValue("HOME")].compactMapValues { $0 })
    }

    private func loadOrCreateKey() throws -> MasterKey {
        guard let keys else { return MasterKey.generate() }
        if FileSystem.exists(keys) { return try KeyFile.read(path: keys) }
        let key = MasterKey.generate()
        try KeyFile.write(key, to: keys)
        return key
    }
}

/// The machine-readable result of `arca seal` (no key material).
struct SealSummary: Codable {
    var image: String
    var measurement: String
    var session: String
    var sessionFile: String?
    var keyID: String
    var keptLayers: Int
    var rewrittenLayers: Int
    var encryptedFiles: Int
    var authenticatedFiles: Int
    var cacheHits: Int
    var cacheMisses: Int
    var cacheRejected: [String]
    var cacheTrimmedBytes: UInt64
}
