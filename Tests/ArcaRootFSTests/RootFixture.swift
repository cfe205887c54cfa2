import ArcaArchive
import ArcaCore
import ArcaCrypto
import ArcaFUSE
import ArcaOCI
import ArcaRootFS
import ArcaSeal
import ArcaShield
import ArcaTestSupport
import Dispatch
import Foundation
import Synchronization

/// A sealed image taken apart the way `arca-init` sees it: the lower tree the runtime unpacked,
/// the shield index and the blob.
struct SealedTree {
    let directory: String
    let lower: String
    let blobPath: String
    let indexBytes: [UInt8]
    let index: ShieldIndex
}

/// Collects refusal lines instead of writing them to standard error.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    var sink: @Sendable (String) -> Void { { line in self.lines.withLock { $0.append(line) } } }
}

enum RootFixture {
    static let masterKey: MasterKey = {
        do { return try MasterKey(bytes: Array(repeating: 0x42, count: 32)) } catch { preconditionFailure("32 bytes make a key") }
    }()

    /// Deterministic pseudo-random bytes (SplitMix64), so a failure is reproducible.
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        var out = [UInt8](repeating: 0, count: count)
        var i = 0
        while i < count {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            for k in 0..<8 where i + k < count { out[i + k] = UInt8(truncatingIfNeeded: z >> (8 * k)) }
            i += 8
        }
        return out
    }

    /// Builds a one-layer native image of `members`, seals it with `encrypt` as encrypted paths,
    /// extracts the sealed image's lower layers and saves index and blob.
    static func seal(_ members: [TarBuilder.Member], encrypt: [String], in dir: String) throws -> SealedTree {
        let layout = try LayoutBuilder(path: dir + "/native")
        let tar = try TarBuilder.tar(members)
        let manifest = try layout.image(layers: [(tar, Digest.sha256(of: tar), MediaType.ociLayer)], config: ContainerConfig())
        try layout.index([(manifest, "native")])
        let source = try OCILayout(readingFrom: dir + "/native", tag: "native")
        let image = try ImageResolver().resolve(source)

        let runtime = dir + "/runtime.tar"
        try FileSystem.writeAtomically(TarBuilder.tar([.directory(".arca"), .directory(".arca/bin"),
                                                       .file(".arca/bin/arca-init", Array("runtime stand-in\n".utf8), mode: 0o755)]),
                                       to: runtime)
        let policy = try ProtectionPolicy(ProtectionPolicy.rules(encrypt: encrypt, authenticate: [], ephemeral: [], volumes: [], host: []))
        let options = SealOptions(policy: policy, masterKey: masterKey, runtimeLayerTar: runtime, session: "team/app",
                                  allowedEvidence: ["sim"], sourceDateEpoch: 1_700_000_000, arcaVersion: "test")
        _ = try Sealer(options: options).seal(image, from: source, to: OCILayout(writingTo: dir + "/out", tag: "sealed"))

        let sealedSource = try OCILayout(readingFrom: dir + "/out", tag: "sealed")
        let sealed = try SealedImageReader().read(ImageResolver().resolve(sealedSource), from: sealedSource)
        let lower = dir + "/lower"
        try FileSystem.makeDirectories(lower)
        _ = try LayerScanner().extract(sealed.lowerImage, from: sealedSource, into: lower)
        guard let root = Hash256(hex: sealed.config.shieldRoots[0]) else {
            throw ArcaError(.invalidFormat, "shield root \(sealed.config.shieldRoots[0]) is not hex")
        }
        let index = try ShieldIndex.parse(sealed.indexBytes, expectedRoot: root, masterKey: masterKey)
        // The fixture's images have at most one stream (one layer holds encrypted files); its blob
        // was unpacked with the blob layer, where arca-init finds it.
        let blobPath = index.streams.first.map { lower + "/.arca/shield/blobs/" + $0.streamId.hex } ?? dir + "/no-blob"
        return SealedTree(directory: dir, lower: lower, blobPath: blobPath, indexBytes: sealed.indexBytes, index: index)
    }

    /// Mounts the protected root of `tree` at `<dir>/mnt`, runs `body`, and always tears the mount
    /// down. A watchdog aborts the connection after `timeout` seconds, so a hang fails the test
    /// (every blocked call returns an error) instead of holding the run.
    static func withMount<T>(_ tree: SealedTree, masterKey: MasterKey? = RootFixture.masterKey, log: LogCapture? = nil,
                             timeout: Double = 120, _ body: (String, ProtectedRoot) throws -> T) throws -> T {
        let mountpoint = tree.directory + "/mnt"
        try FileSystem.makeDirectories(mountpoint)
        let blob: (any RandomAccessBytes)? = FileSystem.exists(tree.blobPath) ? try FileBytes(path: tree.blobPath) : nil
        let root = try ProtectedRoot(index: tree.index, masterKey: masterKey, lower: LowerTree(path: tree.lower),
                                     blob: blob, log: log?.sink)
        let mount = try root.mount(at: mountpoint)
        let watchdog = DispatchWorkItem { try? mount.abort() }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        defer {
            watchdog.cancel()
            do { try mount.unmount(timeout: 5) } catch { try? mount.abort() }
        }
        return try body(mount.mountpoint, root)
    }
}

/// An errno a call through the mount failed with.
struct PosixFailure: Error, Equatable, CustomStringConvertible {
    let code: Int32
    static let io = PosixFailure(code: EIO)
    var description: String { "errno \(code) (\(String(cString: strerror(code))))" }
}

/// Small POSIX helpers for checking what the mount answers, errno included.
enum Posix {
    /// Reads `length` bytes at `offset` of `path`; the errno on failure.
    static func pread(_ path: String, offset: Int, length: Int) -> Result<[UInt8], PosixFailure> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(PosixFailure(code: errno)) }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: length)
        var filled = 0
        while filled < length {
            let n = out.withUnsafeMutableBytes { Foundation.pread(fd, $0.baseAddress! + filled, length - filled, off_t(offset + filled)) }
            if n < 0 { return .failure(PosixFailure(code: errno)) }
            if n == 0 { break }
            filled += n
        }
        return .success(Array(out[..<filled]))
    }

    static func readAll(_ path: String) -> Result<[UInt8], PosixFailure> {
        pread(path, offset: 0, length: 64 << 20)
    }

    static func lstat(_ path: String) throws -> stat {
        var info = stat()
        guard Foundation.lstat(path, &info) == 0 else { throw PosixFailure(code: errno) }
        return info
    }
}

/// Extended attributes through Python's `os` module (Glibc's Swift module omits <sys/xattr.h>).
enum Xattr {
    /// `{"names": [...], "values": {name: [bytes]}, "errors": {name: errno}}` as one line.
    static func read(_ path: String, names: [String]) throws -> (names: [String], values: [String: [UInt8]], errors: [String: Int32]) {
        let script = """
            import json, os, sys
            p = sys.argv[1]
            out = {"names": sorted(os.listxattr(p, follow_symlinks=False)), "values": {}, "errors": {}}
            for n in sys.argv[2:]:
                try: out["values"][n] = list(os.getxattr(p, n, follow_symlinks=False))
                except OSError as e: out["errors"][n] = e.errno
            print(json.dumps(out))
            """
        let result = try Tool.run("python3", ["-c", script, path] + names)
        struct Answer: Decodable { var names: [String]; var values: [String: [UInt8]]; var errors: [String: Int32] }
        let answer = try JSONDecoder().decode(Answer.self, from: Data(result.stdout.utf8))
        return (answer.names, answer.values, answer.errors)
    }

    static func remove(_ path: String, _ name: String) throws {
        try Tool.run("python3", ["-c", "import os, sys; os.removexattr(sys.argv[1], sys.argv[2])", path, name])
    }
}
