import ArcaArchive
import ArcaCore
import ArcaMeasurement
import ArcaOCI
import ArgumentParser
import Crypto
import Foundation

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a sealed image locally under runc.",
        discussion: """
            Unpacks the sealed image into a runc bundle (read-only root), adds what arca-init needs \
            (the /dev/fuse device and CAP_SYS_ADMIN, which arca-init drops before the service \
            starts) and the local `sim` platform key, and runs it with `runc run`, sharing the \
            host's network unless --network none. The exit status is the service's.

            The sim platform key is created on first use (0600) under $ARCA_HOME or ~/.config/arca; \
            register its public half with the keeper (its --data DIR) once:
              arca keeper platform add ~/.config/arca/platform.pub.pem --data DIR

            `sim` gives no hardware protection: the host's root can read the service's memory.
            """)

    @Argument(help: "The sealed image.") var reference: String
    @Option(help: "The keeper's URL (overrides the one in the measured config).") var keeper: String?
    @Option(help: "host (default) or none.") var network: String = "host"
    @Option(help: "The container's name (default: arca-<random>).") var name: String?
    @Option(help: "The sim platform key (PEM); created if it does not exist.") var platformKey: String?
    @Option(help: "Keep the bundle in this directory instead of a temporary one.") var bundle: String?
    @Option(help: "Bind the host directory HOSTDIR as the image's volume NAME (NAME:HOSTDIR, repeatable; default $ARCA_HOME/volumes/SESSION/NAME).")
    var volume: [String] = []
    @Flag(help: "Only prepare the bundle (with --bundle) and print its path; run it with `runc run --bundle DIR NAME`.")
    var prepareOnly = false
    @OptionGroup var image: ImageOptions
    @OptionGroup(title: "Registry options") var registry: RegistryFlags
    @Argument(parsing: .postTerminator, help: "Arguments for the service (used only where the session allows them).")
    var arguments: [String] = []

    func validate() throws {
        guard ["host", "none"].contains(network) else { throw ValidationError("--network takes host or none") }
        if prepareOnly && bundle == nil { throw ValidationError("--prepare-only needs --bundle DIR") }
    }

    func run() throws {
        if let bundle, FileSystem.exists(bundle), !(try FileSystem.listDirectory(bundle)).isEmpty {
            throw ArcaError(.alreadyExists, "--bundle \(bundle) exists and is not empty; give a new or empty directory")
        }
        let keyPath = try platformKeyPath()
        let directory = try bundle ?? FileSystem.makeTemporaryDirectory(prefix: "arca-run")
        defer { if bundle == nil { try? FileSystem.removeTree(directory) } }
        let store = try Stores.source(parseReference(reference), registry: registry.options())
        let resolved = try ImageResolver(platform: image.resolvedPlatform()).resolve(store)
        try RuncBundle.create(image: resolved, source: store, at: directory, platformKey: keyPath, keeper: keeper,
                              hostNetwork: network == "host", arguments: arguments)
        try VolumeBindings.add(volume, bundle: directory, home: arcaHome())
        if prepareOnly {
            print(directory)
            return
        }
        let container = name ?? "arca-\(String(UInt32.random(in: .min ... .max), radix: 16))"
        let runc = Process()
        runc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        runc.arguments = ["runc", "run", "--bundle", directory, container]
        try runc.run()
        runc.waitUntilExit()
        throw ExitCode(runc.terminationStatus)
    }

    /// The local sim platform key, created (0600) on first use with a note on registering it.
    private func platformKeyPath() throws -> String {
        let path = platformKey ?? (arcaHome() + "/platform.key")
        if !FileSystem.exists(path) {
            if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
                try FileSystem.makeDirectories(String(path[..<slash]), permissions: 0o700)
            }
            let key = P256.Signing.PrivateKey()
            try FileSystem.writeAtomically(Array(key.pemRepresentation.utf8), to: path, permissions: [.ownerReadWrite])
            let publicPath = path.replacingOccurrences(of: ".key", with: "") + ".pub.pem"
            try FileSystem.writeAtomically(Array(key.publicKey.pemRepresentation.utf8), to: publicPath)
            printError("""
                created the sim platform key \(path) (0600). Register it with your keeper once:
                  arca keeper platform add \(publicPath) --data KEEPER_DATA_DIR
                """)
        }
        return path
    }

    private func arcaHome() -> String {
        if let home = environmentValue("ARCA_HOME") { return home }
        return (environmentValue("HOME") ?? "/root") + "/.config/arca"
    }
}

/// A runc bundle for a sealed image: the unpacked image as a read-only root and a config.json
/// that gives arca-init what it needs and nothing more.
enum RuncBundle {
    static let platformKeyInContainer = "/.arca/platform.key"

    static func create(image: ResolvedImage, source: any ImageSource, at directory: String, platformKey: String,
                       keeper: String?, hostNetwork: Bool, arguments: [String]) throws {
        let rootfs = directory + "/rootfs"
        try FileSystem.makeDirectories(rootfs)
        // Images built from a root file system tarball (mmdebstrap, debootstrap) carry /dev nodes.
        // They are made, but stay inert: the bundle is root's alone (0700), so no host user reaches
        // them; inside, runc's tmpfs covers /dev and the device cgroup denies all but /dev/fuse;
        // and the protected root the service sees is mounted nodev.
        guard chmod(directory, 0o700) == 0 else {
            throw ArcaError(.io, "cannot make the bundle \(directory) private (mode 0700): \(String(cString: strerror(errno)))")
        }
        _ = try LayerScanner().extract(image, from: source, into: rootfs, options: ExtractorOptions(allowDeviceNodes: true))
        try FileSystem.writeAtomically([], to: rootfs + platformKeyInContainer)  // the bind target
        let config = try configJSON(image: image, platformKey: platformKey, keeper: keeper, hostNetwork: hostNetwork, arguments: arguments)
        try FileSystem.writeAtomically(config, to: directory + "/config.json")
    }

    static func configJSON(image: ResolvedImage, platformKey: String, keeper: String?, hostNetwork: Bool,
                           arguments: [String]) throws -> [UInt8] {
        let capabilities = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
                            "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE", "CAP_SYS_ADMIN"]
        var environment = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                           "ARCA_PLATFORM_KEY=\(platformKeyInContainer)"]
        if let keeper { environment.append("ARCA_KEEPER=\(keeper)") }
        var namespaces: [[String: Any]] = [["type": "pid"], ["type": "ipc"], ["type": "uts"], ["type": "mount"]]
        if !hostNetwork { namespaces.append(["type": "network"]) }
        let fuse: [String: Any] = ["path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0]
        var mounts: [[String: Any]] = [
            ["destination": "/proc", "type": "proc", "source": "proc"],
            ["destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]],
            ["destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]],
            ["destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]],
            ["destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]],
            ["destination": platformKeyInContainer, "type": "bind", "source": platformKey, "options": ["bind", "ro"]],
        ]
        if hostNetwork {
            mounts.append(["destination": "/etc/resolv.conf", "type": "bind", "source": "/etc/resolv.conf", "options": ["bind", "ro"]])
        }
        let config: [String: Any] = [
            "ociVersion": "1.0.2",
            "process": [
                "terminal": false, "user": ["uid": 0, "gid": 0], "cwd": "/",
                "args": [SealedLayout.arcaInitPath] + (arguments.isEmpty ? [] : ["--"] + arguments),
                "env": environment,
                "capabilities": ["bounding": capabilities, "effective": capabilities, "permitted": capabilities],
            ] as [String: Any],
            "root": ["path": "rootfs", "readonly": true],
            "hostname": "arca",
            "mounts": mounts,
            "linux": [
                "namespaces": namespaces,
                "devices": [fuse],
                "resources": ["devices": [["allow": false, "access": "rwm"],
                                          ["allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"]]],
                "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
                "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
            ] as [String: Any],
        ]
        return Array(try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys, .prettyPrinted]))
    }
}
