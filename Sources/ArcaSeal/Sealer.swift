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
    /// The uncompressed tar of the runtime layer (`/.arca/bin/arca-init` and its libraries).
    public var runtimeLayerTar: String
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

    public init(policy: ProtectionPolicy, masterKey: MasterKey, runtimeLayerTar: String, session: String? = nil,
                keeperURL: String? = nil, keeperPin: String? = nil, allowedEvidence: [String] = [],
                sourceDateEpoch: Int64? = nil, allowMissing: Bool = false, limits: ArchiveLimits = ArchiveLimits(),
                compressionLevel: Int32 = 1, parallelism: Int = ProcessInfoLite.activeProcessorCount, arcaVersion: String) {
        self.policy = policy
        self.masterKey = masterKey
        self.runtimeLayerTar = runtimeLayerTar
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
        let analyzer = LayerAnalyzer(policy: options.policy, scanner: scanner, chunkLayout: layout, workDirectory: work)

        // Pass one: every layer read once, in parallel; then the merged tree, in order.
        progress.begin("reading \(image.layers.count) layer\(image.layers.count == 1 ? "" : "s")", total: image.layers.reduce(0) { $0 + $1.size })
        let analyses = try Parallel.map(image.layers.count, width: options.parallelism) { try analyzer.analyze($0, of: image, from: source) }
        progress.end()
        let builder = RootfsBuilder()
        var digests: [ContentKey: [Hash256]] = [:]
        var spills: [ContentKey: String] = [:]
        for (index, analysis) in analyses.enumerated() {
            builder.beginLayer()
            for (entry, offset) in analysis.entries { try builder.apply(entry, dataOffset: offset, layerIndex: index) }
            digests.merge(analysis.digests) { $1 }
            spills.merge(analysis.spills) { $1 }
        }
        let rootfs = builder.rootfs()
        try checkEncryptedPathsExist(in: rootfs)

        // The shield: index over the merged tree, encrypted content sealed into the blob.
        let shield = try ShieldBuilder(policy: options.policy, masterKey: options.masterKey, chunkLayout: layout,
                                       workDirectory: work, parallelism: options.parallelism)
            .build(rootfs, digests: digests, spills: spills)

        // Pass two: the image's layers (kept or rewritten), then the runtime layer and the shield layer.
        let writer = LayerWriter(analyzer: analyzer, limits: options.limits, compressionLevel: options.compressionLevel,
                                 clampTime: options.sourceDateEpoch)
        let written = try Parallel.map(image.layers.count, width: options.parallelism) { index in
            try writer.write(index, of: image, from: source, to: destination, rewrite: analyses[index].touchesEncrypted)
        }
        let time = options.sourceDateEpoch ?? 0
        let runtime = try putTarLayer(options.runtimeLayerTar, to: destination)
        let config = measuredConfig(image, layers: written.map(\.diffID.description), runtime: runtime.diffID.description, root: shield.index.root.hex)
        let measurement = try config.measurement()
        var files: [(path: String, content: FileContent)] = [
            (SealedLayout.measuredConfigPath, .bytes(try config.canonicalBytes())),
            (SealedLayout.indexPath, .bytes(shield.index.bytes)),
        ]
        if let blob = shield.blobPath { files.insert((SealedLayout.blobPath, .file(blob)), at: 0) }
        let shieldLayer = try putFileLayer(files, directories: [".arca", ".arca/root", ".arca/shield"], to: destination, modificationTime: time)

        let layers = written.map(\.descriptor) + [runtime.descriptor, shieldLayer.descriptor]
        let diffIDs = written.map(\.diffID) + [runtime.diffID, shieldLayer.diffID]
        let configBytes = try sealedImageConfig(image, diffIDs: diffIDs, measurement: measurement)
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

        let rewritten = analyses.filter(\.touchesEncrypted).count
        return SealResult(manifest: manifestDescriptor, measurement: measurement, measuredConfig: config,
                          session: session(config, measurement: measurement), keptLayers: analyses.count - rewritten,
                          rewrittenLayers: rewritten, encryptedFiles: shield.encryptedFiles, authenticatedFiles: shield.authenticatedFiles)
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
    private func sealedImageConfig(_ image: ResolvedImage, diffIDs: [Digest], measurement: String) throws -> [UInt8] {
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
        let createdBy = ["arca seal: runtime layer (arca-init)", "arca seal: shield layer (index, encrypted content, measured config)"]
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
