import ArcaCore
import ArcaCrypto
import ArcaFUSE
import ArcaKeeperAPI
import ArcaKeeperLink
import ArcaMeasurement
import ArcaOS
import ArcaVolume
import ArcaVolumeFS

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The session's encrypted volumes, served read-write by `arca-init` (docs/RUNTIME.md, "Volumes").
///
/// For each `volume` rule of the measured config: the key and anchor token come from the release;
/// the host directory is the one bound at `/.arca/volumes/NAME`; the keeper's anchor is leased
/// (renewed while running) and checked, so a rolled-back or emptied directory is refused at start;
/// the tree is mounted over the rule's path in the protected root before the pivot. Every fsync
/// commits through the keeper (intent, then commit). `stop` commits, unmounts and gives the lease up.
public final class VolumeMounts: Sendable {
    struct Mounted: Sendable {
        let name: String
        /// The volume's path inside the container (after the pivot).
        let path: String
        let volume: Volume
        let mount: FUSEMount
    }

    let mounted: [Mounted]
    let log: @Sendable (String) -> Void

    init(mounted: [Mounted], log: @escaping @Sendable (String) -> Void) {
        self.mounted = mounted
        self.log = log
    }

    /// Lease length at the keeper: a runtime killed without `stop` blocks the next start this long.
    public static let leaseSeconds = 30

    /// Opens (or, on first use, creates) and mounts every volume of `config` under `mountpoint`
    /// (the protected root, not yet pivoted into). `root` is the container's root holding the host
    /// directories. On any failure, the volumes already mounted are stopped again.
    public static func mount(config: MeasuredConfig, release: ReleasePayload, keeperURL: String, pin: String, root: String,
                             mountpoint: String, identity: ServiceIdentity,
                             log: @escaping @Sendable (String) -> Void) throws -> VolumeMounts {
        let rules = config.policy.compactMap { rule -> (name: String, path: String)? in
            if case .volume(let name) = rule.pathClass { return (name, rule.path) }
            return nil
        }
        var done: [Mounted] = []
        guard !rules.isEmpty else { return VolumeMounts(mounted: [], log: log) }
        // Resolved once, here: after the pivot a name lookup would read the protected root's files.
        let client = try KeeperHTTPSClient(address: try numeric(KeeperAddress(url: keeperURL)), pin: pin)
        do {
            // A volume mount's readahead window is written to sysfs, which is read-only here.
            try Mounts.withWritableSysfs {
                for rule in rules {
                    guard let released = release.volumes.first(where: { $0.name == rule.name }) else {
                        throw ArcaError(.notFound, "the keeper released no key for volume \(rule.name) (at \(rule.path)); the session's service must list it under volumes")
                    }
                    guard let keyBytes = Hex.decode(released.key), keyBytes.count == 32 else {
                        throw ArcaError(.invalidFormat, "the released key of volume \(rule.name) is not 64 hex digits")
                    }
                    let key = try MasterKey(bytes: keyBytes)
                    let hostPath = (root.hasSuffix("/") ? String(root.dropLast()) : root) + VolumeHostLayout.containerPath(rule.name)
                    guard isDirectory(hostPath) else {
                        throw ArcaError(.notFound, "volume \(rule.name) has no host directory at \(VolumeHostLayout.containerPath(rule.name)); run with `arca run --volume \(rule.name):HOSTDIR`, or bind a host directory there (runc config.json \"mounts\", a Kubernetes volumeMount)")
                    }
                    let anchor = KeeperVolumeAnchor(client: client, session: release.session, volume: rule.name,
                                                    anchorToken: released.anchorToken, leaseSeconds: leaseSeconds, log: log)
                    let volume: Volume
                    do {
                        volume = try open(name: rule.name, hostPath: hostPath, key: key, anchor: anchor, identity: identity)
                    } catch {
                        try? anchor.releaseLease()
                        throw error
                    }
                    let fileSystem = VolumeFileSystem(volume: volume, log: { log("arca-init: volume \(rule.name): \($0)") })
                    let fuse: FUSEMount
                    do {
                        fuse = try FUSEMount.mount(fileSystem, at: mountpoint + rule.path, options: VolumeFileSystem.mountOptions)
                    } catch {
                        try? volume.close()
                        throw error
                    }
                    done.append(Mounted(name: rule.name, path: rule.path, volume: volume, mount: fuse))
                    log("arca-init: volume \(rule.name) at \(rule.path), version \(volume.version)"
                        + (fuse.readAheadApplied ? "" : " (readahead window left at the kernel's default: no writable sysfs)"))
                }
            }
        } catch {
            VolumeMounts(mounted: done, log: log).stop()
            throw error
        }
        return VolumeMounts(mounted: done, log: log)
    }

    /// Opens the volume in `hostPath`, or creates it when the directory holds none and the anchor
    /// has never committed one (an emptied directory with an anchored volume is a rollback).
    static func open(name: String, hostPath: String, key: MasterKey, anchor: any VolumeAnchor, identity: ServiceIdentity) throws -> Volume {
        if FileSystem.exists(hostPath + "/volume") {
            return try Volume.open(at: hostPath, key: key, anchor: anchor)
        }
        try anchor.lease()
        if let committed = try anchor.read().committed {
            throw ArcaError(.rollback, "volume \(name): the host directory holds no volume, but the anchor is at version \(committed.version): refusing an emptied or replaced directory (the session owner can start over with `arca volume reset-anchor`)")
        }
        return try Volume.create(at: hostPath, key: key, anchor: anchor, uid: identity.uid, gid: identity.gid)
    }

    /// Why the service must stop, if a volume's file system ended under it.
    public var failure: String? {
        mounted.first(where: { $0.mount.isStopped }).map { "the file system of volume \($0.name) stopped" }
    }

    /// Commits every volume, unmounts it and releases its lease. Call after the service and its
    /// processes ended; failures are logged (data fsync'ed earlier is committed already).
    public func stop() {
        for entry in mounted {
            do {
                try entry.volume.commit()
            } catch {
                log("arca-init: volume \(entry.name): the final commit failed: \(error)")
            }
            // After the pivot the mount sits at its own path; before it, FUSEMount knows the path.
            _ = umount2(entry.path, Int32(MNT_DETACH))
            do {
                try entry.mount.unmount(timeout: 5)
            } catch {
                log("arca-init: volume \(entry.name): unmount: \(error)")
            }
            do {
                try entry.volume.close()
                log("arca-init: volume \(entry.name) closed at version \(entry.volume.version)")
            } catch {
                log("arca-init: volume \(entry.name): close: \(error)")
            }
        }
    }

    /// The service's user, read from the protected root's /etc/passwd and /etc/group before the
    /// pivot: a new volume's root directory belongs to it, so a non-root service can write there.
    public static func identity(config: MeasuredConfig, release: ReleasePayload, protectedRoot: String) throws -> ServiceIdentity {
        let user = release.user ?? config.service.user
        guard !user.isEmpty, config.policy.contains(where: { if case .volume = $0.pathClass { true } else { false } }) else {
            return ServiceIdentity(uid: 0, gid: 0)
        }
        func text(_ path: String) -> String {
            String(decoding: (try? FileSystem.readFile(protectedRoot + path, limit: 4 << 20)) ?? [], as: UTF8.self)
        }
        return try UserDatabase.resolve(user, passwd: text("/etc/passwd"), group: text("/etc/group"))
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// `address` with its host name resolved to an IP literal (unchanged when it is one).
    static func numeric(_ address: KeeperAddress) throws -> KeeperAddress {
        guard address.isDNSName else { return address }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(address.host, nil, &hints, &list) == 0, let first = list else {
            throw ArcaError(.keeperUnreachable, "cannot resolve the keeper's host \(address.host)")
        }
        defer { freeaddrinfo(list) }
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(first.pointee.ai_addr, first.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 else {
            throw ArcaError(.keeperUnreachable, "cannot resolve the keeper's host \(address.host)")
        }
        let host = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return try KeeperAddress(host: host, port: address.port)
    }
}
