import ArcaMeasurement
import ArcaArchive
import ArcaCore
import ArcaCrypto
import ArcaOCI
import ArcaSession
import ArcaShield
import FoundationEssentials

/// What `arca seal` needs besides the image.
public struct SealOptions: Sendable {
    public var policy: ProtectionPolicy
    public var masterKey: MasterKey
    /// The runtime layer (`/.arca/bin/arca-init` and its libraries).
    public var runtimeLayer: RuntimeLayerInput
    public var session: String?
    public var keeperURL: String?
    public var keeperPin: String?
    /// Evidence kinds the session accepts (`sim` must be named to be allowed).
    public var allowedEvidence: [String]
    /// `SOURCE_DATE_EPOCH`: times of new files, the config's `created`, and a clamp on rewritten layers.
    public var sourceDateEpoch: Int64?
    public var allowMissing: Bool
    public var limits: ArchiveLimits
    public var compressionLevel: Int32
    public var parallelism: Int
    public var arcaVersion: String
    /// The per-layer cache directory (created 0700), or nil for none.
    public var cacheDirectory: String?
    /// The most bytes the cache keeps after a seal (least recently used entries go first; the
    /// seal's own entries always stay); 0 for no bound.
    public var cacheLimit: UInt64 = SealOptions.defaultCacheLimit
    public static let defaultCacheLimit: UInt64 = 10 << 30

    public init(policy: ProtectionPolicy, masterKey: MasterKey, runtimeLayerTar: String, session: String? = nil,
                keeperURL: String? = nil, keeperPin: String? = nil, allowedEvidence: [String] = [],
                sourceDateEpoch: Int64? = nil, allowMissing: Bool = false, limits: ArchiveLimits = ArchiveLimits(),
                compressionLevel: Int32 = 1, parallelism: Int = ProcessInfoLite.activeProcessorCount, arcaVersion: String,
                cacheDirectory: String? = nil, runtimeLayer: RuntimeLayerInput? = nil) {
        self.policy = policy
        self.masterKey = masterKey
        self.runtimeLayer = runtimeLayer ?? RuntimeLayerInput(tar: runtimeLayerTar)
        self.session = session
        self.keeperURL = keeperURL
        self.keeperPin = keeperPin
        self.allowedEvidence = allowedEvidence
        self.sourceDateEpoch = sourceDateEpoch
        self.allowMissing = allowMissing
        self.limits = limits
        self.compressionLevel = compressionLevel
        self.parallelism = parallelism
        self.arcaVersion = arcaVersion
        self.cacheDirectory = cacheDirectory
    }
}

/// The runtime layer's uncompressed tar, as `SealOptions` takes it: made on demand, so that a
/// seal whose cache already holds the compressed layer need not make it at all.
public struct RuntimeLayerInput: Sendable {
    /// The tar's SHA-256 (hex) when the caller knows it (then a cache hit never calls `tar`).
    public var digest: String?
    /// Returns the path of the tar, making it first if needed.
    public var tar: @Sendable () throws -> String

    public init(digest: String? = nil, tar: @escaping @Sendable () throws -> String) {
        self.digest = digest
        self.tar = tar
    }

    /// A tar that is already there.
    public init(tar path: String, digest: String? = nil) {
        self.init(digest: digest, tar: { path })
    }
}

extension SealOptions {
    /// The default per-layer cache: `$XDG_CACHE_HOME/arca`, else `$HOME/.cache/arca` (nil without either).
    public static func defaultCacheDirectory(environment: [String: String]) -> String? {
        LayerCache.defaultRoot(environment: environment)
    }
}

/// What `arca seal` produced.
public struct SealResult: Sendable {
    public var manifest: Descriptor
    public var measurement: String
    public var measuredConfig: MeasuredConfig
    /// The session for the keeper; it holds the master key: write it 0600, never print it.
    public var session: Session
    public var keptLayers: Int
    public var rewrittenLayers: Int
    public var encryptedFiles: Int
    public var authenticatedFiles: Int
    /// Layers taken from the cache, layers processed, and cache entries refused (and recomputed).
    public var cacheHits: Int
    public var cacheMisses: Int
    public var cacheRejected: [String]
    /// Bytes of older cache entries removed to keep the cache within `SealOptions.cacheLimit`.
    public var cacheTrimmedBytes: UInt64
}

/// What one task of pass one made: a layer's outcome, or the runtime layer.
enum PassOneTask: Sendable {
    case layer(Int, LayerOutcome)
    case runtime(Descriptor, Digest)
}

/// The sealing pipeline: native image in, confidential image out (ARCHITECTURE.md).
public struct Sealer {
    public var options: SealOptions
    public var progress: any ProgressObserver

    public init(options: SealOptions, progress: any ProgressObserver = SilentProgress()) {
        self.options = options
        self.progress = progress
    }

    public func seal(_ image: ResolvedImage, from source: any ImageSource, to destination: any ImageDestination) throws -> SealResult {
        let work = try FileSystem.makeTemporaryDirectory(prefix: "arca-seal")
        defer { try? FileSystem.removeTree(work) }
        let layout = try ChunkLayout(chunkSize: ChunkLayout.defaultChunkSize)
        let scanner = LayerScanner(limits: options.limits, progress: progress)
        let processor = LayerProcessor(policy: options.policy, scanner: scanner, chunkLayout: layout, masterKey: options.masterKey,
                                       compressionLevel: options.compressionLevel, clampTime: options.sourceDateEpoch,
                                       parallelism: options.parallelism,
                                       blobLayerMediaType: destination.acceptedLayerCompressions == [.none] ? MediaType.dockerLayer : MediaType.ociLayer)
        let cache = try options.cacheDirectory.map { try LayerCache(root: $0, masterKey: options.masterKey, limit: options.cacheLimit) }
        let pass = PassOne(processor: processor, cache: cache, policy: try CanonicalJSON.encode(options.policy.rules),
                           work: work, image: image, source: source, destination: destination)

        // Pass one: every layer read once (or taken from the cache), in parallel, largest first,
        // with the runtime layer (compressed unless cached) as one more task; then the merged
        // tree, in order.
        progress.begin("reading \(image.layers.count) layer\(image.layers.count == 1 ? "" : "s")", total: image.layers.reduce(0) { $0 + $1.size })
        let writer = LayerWriter(processor: processor, limits: options.limits, compressionLevel: options.compressionLevel,
                                 clampTime: options.sourceDateEpoch)
        let order = Self.schedule(layerSizes: image.layers.map(\.size), width: options.parallelism)
        let done = try Parallel.map(order.count, width: options.parallelism) { slot -> PassOneTask in
            guard let index = order[slot] else {
                let runtime = try putRuntimeLayer(options.runtimeLayer, cache: cache, to: destination)
                return .runtime(runtime.descriptor, runtime.diffID)
            }
            let outcome = try pass.run(index)
            // A kept layer is copied now, while other tasks still run (pass two finds it there).
            if !outcome.record.touchesEncrypted {
                _ = try writer.write(index, of: image, from: source, to: destination, record: outcome.record)
            }
            return .layer(index, outcome)
        }
        progress.end()
        var outcomeByLayer: [Int: LayerOutcome] = [:]
        var runtimeLayer: (descriptor: Descriptor, diffID: Digest)?
        for task in done {
            switch task {
            case .layer(let index, let outcome): outcomeByLayer[index] = outcome
            case .runtime(let descriptor, let diffID): runtimeLayer = (descriptor, diffID)
            }
        }
        let outcomes = image.layers.indices.map { outcomeByLayer[$0]! }
        let runtime = runtimeLayer!
        let records = outcomes.map(\.record)
        let builder = RootfsBuilder()
        for (index, record) in records.enumerated() {
            builder.beginLayer()
            for (entry, offset) in record.entries { try builder.apply(entry, dataOffset: offset, layerIndex: index) }
        }
        let rootfs = builder.rootfs()
        try checkEncryptedPathsExist(in: rootfs)

        // The shield index over the merged tree; encrypted files name their layer's stream.
        let shield = try ShieldBuilder(policy: options.policy, masterKey: options.masterKey, chunkLayout: layout).build(rootfs, records: records)

        // Pass two: descriptors of kept layers (copied in pass one) and rewrites pass one could not do.
        let written = try Parallel.map(image.layers.count, width: options.parallelism) { index in
            try writer.write(index, of: image, from: source, to: destination, record: records[index])
        }
        let time = options.sourceDateEpoch ?? 0
        let blobLayers = shield.streamLayers.map { layer -> (descriptor: Descriptor, diffID: Digest) in
            let artifact = records[layer].blobLayer!
            return (Descriptor(mediaType: processor.blobLayerMediaType, digest: artifact.digest, size: artifact.size), artifact.diffID)
        }
        let config = measuredConfig(image, layers: written.map(\.diffID.description), runtime: runtime.diffID.description, root: shield.index.root.hex)
        let measurement = try config.measurement()
        let files: [(path: String, content: FileContent)] = [
            (SealedLayout.measuredConfigPath, .bytes(try config.canonicalBytes())),
            (SealedLayout.indexPath, .bytes(shield.index.bytes)),
        ]
        let shieldLayer = try putFileLayer(files, directories: [".arca", ".arca/root", ".arca/shield"], to: destination, modificationTime: time)

        let added = [runtime] + blobLayers + [shieldLayer]
        let layers = written.map(\.descriptor) + added.map(\.descriptor)
        let diffIDs = written.map(\.diffID) + added.map(\.diffID)
        let configBytes = try sealedImageConfig(image, diffIDs: diffIDs, blobLayers: blobLayers.count, measurement: measurement)
        let configDescriptor = Descriptor(mediaType: MediaType.ociConfig, digest: .sha256(of: configBytes), size: Int64(configBytes.count))
        if try !destination.hasBlob(configDescriptor) {
            try destination.putBlob(configDescriptor, from: MemorySource(configBytes))
        }
        let manifest = Manifest(config: configDescriptor, layers: layers, annotations: labels(image, measurement: measurement))
        let manifestBytes = try CanonicalJSON.encode(manifest)
        let manifestDescriptor = Descriptor(mediaType: MediaType.ociManifest, digest: .sha256(of: manifestBytes), size: Int64(manifestBytes.count))
        var sealedImage = image
        sealedImage.configBytes = configBytes
        sealedImage.config = try CanonicalJSON.decode(ImageConfig.self, from: configBytes, source: "sealed config")
        sealedImage.manifest = manifest
        try destination.putImage(manifestBytes: manifestBytes, manifestDescriptor: manifestDescriptor, image: sealedImage)
        try destination.commit()
        let trimmed = cache?.trim() ?? 0

        let rewritten = records.filter(\.touchesEncrypted).count
        return SealResult(manifest: manifestDescriptor, measurement: measurement, measuredConfig: config,
                          session: session(config, measurement: measurement), keptLayers: records.count - rewritten,
                          rewrittenLayers: rewritten, encryptedFiles: shield.encryptedFiles, authenticatedFiles: shield.authenticatedFiles,
                          cacheHits: outcomes.filter { $0.status == .hit }.count,
                          cacheMisses: outcomes.filter { $0.status != .hit }.count,
                          cacheRejected: outcomes.compactMap(\.rejected), cacheTrimmedBytes: trimmed)
    }

    /// `--encrypt` of a path the image does not have is most likely a typo: an error unless allowed.
    private func checkEncryptedPathsExist(in rootfs: Rootfs) throws {
        guard !options.allowMissing else { return }
        for path in options.policy.paths(of: .encrypted) where path != "/" {
            let tarPath = String(path.dropFirst())
            if rootfs[tarPath] == nil {
                throw ArcaError(.notFound, "--encrypt \(path): the image has no such path (use --allow-missing if that is intended)")
            }
        }
    }

    private func measuredConfig(_ image: ResolvedImage, layers: [String], runtime: String, root: String) -> MeasuredConfig {
        let container = image.config.config
        return MeasuredConfig(
            formatVersion: MeasuredConfig.currentFormatVersion, arcaVersion: options.arcaVersion, runtime: runtime,
            layers: layers, shieldRoots: [root],
            service: MeasuredConfig.ServiceConfig(entrypoint: container?.entrypoint ?? [], cmd: container?.cmd ?? [],
                                                  env: container?.env ?? [], workingDir: container?.workingDir ?? "",
                                                  user: container?.user ?? ""),
            policy: options.policy.rules,
            keeper: MeasuredConfig.Keeper(url: options.keeperURL, pin: options.keeperPin, session: options.session),
            resources: [:])
    }

    private func labels(_ image: ResolvedImage, measurement: String) -> [String: String] {
        var labels = [SealedLayout.measurementLabel: measurement, SealedLayout.versionLabel: options.arcaVersion,
                      SealedLayout.baseDigestLabel: image.manifestDescriptor.digest.description]
        if let session = options.session { labels[SealedLayout.sessionLabel] = session }
        return labels
    }

    /// The sealed image's config: `arca-init` as the entrypoint (the service's own command is in the
    /// measured config and the session), labels naming the measurement, the new layers' diff_ids.
    private func sealedImageConfig(_ image: ResolvedImage, diffIDs: [Digest], blobLayers: Int, measurement: String) throws -> [UInt8] {
        var config = image.config
        var container = config.config ?? ContainerConfig()
        container.entrypoint = [SealedLayout.arcaInitPath]
        container.cmd = nil
        container.env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        container.user = ""
        container.labels = (container.labels ?? [:]).merging(labels(image, measurement: measurement)) { $1 }
        config.config = container
        config.rootfs = RootFS(diffIDs: diffIDs)
        if let epoch = options.sourceDateEpoch {
            config.created = Self.rfc3339(epoch)
        }
        let createdBy = ["arca seal: runtime layer (arca-init)"]
            + Array(repeating: "arca seal: blob layer (encrypted content of one source layer)", count: blobLayers)
            + ["arca seal: shield layer (index, measured config)"]
        var history = config.history ?? []
        for line in createdBy {
            history.append(History(created: config.created, createdBy: line, author: nil, comment: nil, emptyLayer: nil))
        }
        config.history = history
        return try CanonicalJSON.encode(config)
    }

    private func session(_ config: MeasuredConfig, measurement: String) -> Session {
        let service = config.service
        var environment: [String: String] = [:]
        for variable in service.env {
            guard let equals = variable.firstIndex(of: "=") else { continue }
            environment[String(variable[..<equals])] = String(variable[variable.index(after: equals)...])
        }
        let volumes = options.policy.rules.compactMap { rule -> Volume? in
            guard case .volume(let name) = rule.pathClass else { return nil }
            return Volume(name: name, path: rule.path)
        }
        let name = options.session ?? "arca/sealed"
        var keyHex = ""
        options.masterKey.withUnsafeBytes { keyHex = Hex.encode($0) }
        return Session(
            name: name, version: "1",
            services: [Service(name: "main", measurements: [measurement], command: service.entrypoint + service.cmd,
                               environment: environment, workingDir: service.workingDir.isEmpty ? nil : service.workingDir,
                               user: service.user.isEmpty ? nil : service.user, volumes: volumes.map(\.name), images: ["main"])],
            volumes: volumes, security: Security(allowedEvidence: options.allowedEvidence), keys: ["main": keyHex])
    }

    /// Task order for pass one: layers by decreasing compressed size (the longest start first),
    /// and the runtime layer (nil) after the first `width` of them, for the first thread free.
    static func schedule(layerSizes: [Int64], width: Int) -> [Int?] {
        var order: [Int?] = layerSizes.indices.sorted { (layerSizes[$0], $1) > (layerSizes[$1], $0) }
        order.insert(nil, at: min(max(1, width), order.count))
        return order
    }

    /// The runtime layer, compressed once per runtime and gzip level when there is a cache (its
    /// entry is keyed by the tar's SHA-256 and checked by digest when copied, like a layer's).
    /// When the caller knows that digest, a hit needs neither the tar nor a pass over it.
    private func putRuntimeLayer(_ runtime: RuntimeLayerInput, cache: LayerCache?, to destination: any ImageDestination) throws -> (descriptor: Descriptor, diffID: Digest) {
        guard let cache else { return try putTarLayer(try runtime.tar(), to: destination) }
        func key(_ digest: String) -> String {
            LayerCache.key(layerDigest: "runtime sha256:" + digest, diffID: "", mediaType: MediaType.ociLayerGzip,
                           policy: [], keyID: options.masterKey.id, chunkSize: 0, compressionLevel: options.compressionLevel, clampTime: nil)
        }
        var path: String?
        let digest: String
        if let known = runtime.digest {
            digest = known
        } else {
            path = try runtime.tar()
            let hashing = HashingSink()
            try FileSource(path: path!).copy(to: hashing)
            digest = hashing.hexDigest()
        }
        if case .hit(let record) = cache.load(key(digest)), let artifact = record.rewritten {
            let descriptor = Descriptor(mediaType: MediaType.ociLayerGzip, digest: artifact.digest, size: artifact.size)
            do {
                if try !destination.hasBlob(descriptor) {
                    try destination.putBlob(descriptor, from: FileSource(path: cache.directory(key(digest)) + "/rewritten.tar.gz"))
                }
                return (descriptor, artifact.diffID)
            } catch is ArcaError {
                cache.evict(key(digest))
            }
        }
        let tar = try path ?? runtime.tar()
        let staging = try cache.makeStaging()
        defer { try? FileSystem.removeTree(staging) }
        let compressed = HashingSink(try FileSink(path: staging + "/rewritten.tar.gz", permissions: [.ownerReadWrite], exclusive: true))
        let plain = HashingSink(LayerCompression.gzip.compressing(compressed, level: options.compressionLevel))
        try FileSource(path: tar).copy(to: plain)
        try plain.finish()
        var record = LayerRecord()
        record.rewritten = LayerArtifact(digest: Digest(sha256Hex: compressed.hexDigest()), size: compressed.count,
                                         diffID: Digest(sha256Hex: plain.hexDigest()))
        let descriptor = Descriptor(mediaType: MediaType.ociLayerGzip, digest: record.rewritten!.digest, size: compressed.count)
        if try !destination.hasBlob(descriptor) {
            try destination.putBlob(descriptor, from: FileSource(path: staging + "/rewritten.tar.gz"))
        }
        // Keyed by what the tar really hashes to (a stale digest from the caller is not trusted).
        try cache.commit(record, key: key(plain.hexDigest()), staging: staging)
        return (descriptor, record.rewritten!.diffID)
    }

    /// Compresses a prebuilt uncompressed tar into a layer; returns its descriptor and diff_id.
    private func putTarLayer(_ path: String, to destination: any ImageDestination) throws -> (descriptor: Descriptor, diffID: Digest) {
        var diffID = ""
        let descriptor = try destination.putBlob(mediaType: MediaType.ociLayerGzip) { sink in
            let plain = HashingSink(LayerCompression.gzip.compressing(sink, level: options.compressionLevel))
            try FileSource(path: path).copy(to: plain)
            try plain.finish()
            diffID = plain.hexDigest()
        }
        return (descriptor, Digest(sha256Hex: diffID))
    }

    /// RFC 3339 UTC time for a count of seconds since 1970.
    static func rfc3339(_ seconds: Int64) -> String {
        Date(timeIntervalSince1970: TimeInterval(seconds)).formatted(.iso8601)
    }
}
