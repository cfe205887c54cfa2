import ArcaCore
import ArcaCrypto
import ArcaFUSE
import ArcaKeeperAPI
import ArcaMeasurement
import ArcaOS
import ArcaRootFS
import ArcaShield
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Gets the service's keys and settings from the keeper for a measurement (attestation and release).
public protocol ServiceReleaser {
    func release(keeperURL: String, pin: String, session: String, measurement: String) throws -> ReleasePayload
}

/// The runtime's start sequence (ARCHITECTURE.md, `arca-init`): read the measured config → attest →
/// mount the protected root → tmpfs for ephemeral paths → bind /proc, /dev, /sys and host paths →
/// pivot → the service, supervised as PID 1. Everything that needs the old root (config, keeper,
/// index, blob, platform key) happens before the pivot; the FUSE server reaches the unpacked image
/// only through a directory descriptor opened before mounting.
public struct StartSequence {
    /// The container's root as the runtime unpacked it ("/" inside the container).
    public var root: String
    public var environment: [String: String]
    public var releaser: any ServiceReleaser
    public var log: @Sendable (String) -> Void

    public init(root: String = "/", environment: [String: String], releaser: any ServiceReleaser,
                log: @escaping @Sendable (String) -> Void) {
        self.root = root
        self.environment = environment
        self.releaser = releaser
        self.log = log
    }

    private func path(_ relative: String) -> String {
        root.hasSuffix("/") ? root + relative : root + "/" + relative
    }

    /// Runs the sequence; returns the service's exit status. Any error before the service starts
    /// leaves nothing mounted that the service could use and runs nothing.
    public func run(hostArguments: [String]) throws -> Int32 {
        try RuntimePreflight.check()
        let configBytes = try FileSystem.readFile(path(SealedLayout.measuredConfigPath), limit: 1 << 20)
        let config = try MeasuredConfig.parse(configBytes, source: "/" + SealedLayout.measuredConfigPath)
        let measurement = try config.measurement()
        log("arca-init: measurement \(measurement)")

        guard let keeperURL = environment["ARCA_KEEPER"] ?? config.keeper.url else {
            throw ArcaError(.invalidArgument, "no keeper: the image was sealed without --keeper and ARCA_KEEPER is not set")
        }
        guard let pin = config.keeper.pin else {
            throw ArcaError(.invalidArgument, "the image was sealed without --keeper-pin, so the keeper cannot be authenticated; seal it again with the pin `arca keeper serve` printed")
        }
        let release = try releaser.release(keeperURL: keeperURL, pin: pin, session: config.keeper.session ?? "arca/sealed",
                                           measurement: measurement)
        log("arca-init: the keeper released session \(release.session) service \(release.service)")

        // The protected root.
        let indexBytes = try FileSystem.readFile(path(SealedLayout.indexPath), limit: ShieldFormat.maximumIndexSize)
        guard let root = config.shieldRoots.first, let expected = Hash256(hex: root) else {
            throw ArcaError(.invalidFormat, "the measured config names no shield root")
        }
        let masterKey = try release.keys["main"].map { hex -> MasterKey in
            guard let bytes = Hex.decode(hex) else { throw ArcaError(.invalidFormat, "the released image key is not hex") }
            return try MasterKey(bytes: bytes)
        }
        let index = try ShieldIndex.parse(indexBytes, expectedRoot: expected, masterKey: masterKey)
        let blobs: [any RandomAccessBytes] = index.isLocked ? [] : try index.streams.map {
            try FileBytes(path: path(SealedLayout.blobPath(streamIdHex: $0.streamId.hex)))
        }
        let lower = try LowerTree(path: self.root)
        let mountpoint = path(SealedLayout.protectedRootPath)
        try Mounts.makePrivate()
        // Secret files go on a tmpfs under the protected root's mountpoint, which the root then covers.
        let secrets = try SecretFiles.stage(release.files, at: mountpoint)
        let protectedRoot = try ProtectedRoot(index: index, masterKey: masterKey, lower: lower, blobs: blobs, log: log,
                                              mountpoints: secrets.staged.map(\.path))
        let mount = try protectedRoot.mount(at: mountpoint)

        // Runtime mounts on top of it, then the pivot.
        for rule in config.policy {
            switch rule.pathClass {
            case .ephemeral: try Mounts.tmpfs(at: mountpoint + rule.path)
            case .host: try Mounts.bind(rule.path, to: mountpoint + rule.path, recursive: false)
            case .volume, .authenticated, .encrypted: continue  // volumes: VolumeMounts below
            }
        }
        let volumes = try VolumeMounts.mount(
            config: config, release: release, keeperURL: keeperURL, pin: pin, root: self.root, mountpoint: mountpoint,
            identity: try VolumeMounts.identity(config: config, release: release, protectedRoot: mountpoint), log: log)
        defer { volumes.stop() }  // after the service ended: commit, unmount, release the leases
        for system in ["/proc", "/dev", "/sys"] {
            try Mounts.bind(system, to: mountpoint + system)
        }
        try secrets.bind(under: mountpoint, memoryBacked: config.policy.compactMap { rule in
            if case .ephemeral = rule.pathClass { rule.path } else { nil }
        })
        try Mounts.pivot(into: mountpoint)

        // The service, as the session says; host arguments and environment only where allowed.
        let spec = try serviceSpec(config: config, release: release, hostArguments: hostArguments)
        try secrets.finish(owner: spec.identity)
        MemoryTrim.releaseFreeHeap()  // start-up garbage need not stay resident beside the service
        let supervisor = ServiceSupervisor(
            failure: { mount.isStopped ? "the protected root's file system stopped" : volumes.failure }, log: log)
        return try supervisor.run(spec)
    }

    func serviceSpec(config: MeasuredConfig, release: ReleasePayload, hostArguments: [String]) throws -> ServiceSpec {
        var command = release.command.isEmpty ? config.service.entrypoint + config.service.cmd : release.command
        if release.allowHostArgs && !hostArguments.isEmpty {
            command = (release.command.isEmpty ? config.service.entrypoint : Array(command.prefix(1))) + hostArguments
        }
        guard let program = command.first else {
            throw ArcaError(.invalidArgument, "the session gives no command and the image has no entrypoint or cmd")
        }
        var environment = release.environment
        for name in release.allowHostEnv { if let value = self.environment[name] { environment[name] = value } }
        if environment["PATH"] == nil { environment["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }
        let executable = try Self.resolve(program, path: environment["PATH"]!)
        let user = release.user ?? config.service.user
        let identity = try UserDatabase.resolve(
            user, passwd: String(decoding: (try? FileSystem.readFile("/etc/passwd", limit: 4 << 20)) ?? [], as: UTF8.self),
            group: String(decoding: (try? FileSystem.readFile("/etc/group", limit: 4 << 20)) ?? [], as: UTF8.self))
        let workingDirectory = release.workingDir ?? (config.service.workingDir.isEmpty ? "/" : config.service.workingDir)
        return ServiceSpec(executable: executable, arguments: command,
                           environment: environment.keys.sorted().map { "\($0)=\(environment[$0]!)" },
                           workingDirectory: workingDirectory, identity: identity)
    }

    /// `name` on `PATH`, or the path itself when it has a slash.
    static func resolve(_ program: String, path: String) throws -> String {
        if program.contains("/") { return program }
        for directory in path.split(separator: ":") where access("\(directory)/\(program)", X_OK) == 0 {
            return "\(directory)/\(program)"
        }
        throw ArcaError(.notFound, "\(program) is not on PATH (\(path))")
    }
}
