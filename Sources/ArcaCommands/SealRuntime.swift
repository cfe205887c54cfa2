import ArcaCore
import ArcaCrypto
import ArcaOCI
import ArcaRuntimeLayer
import ArcaSeal
import Crypto
import FoundationEssentials
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The runtime layer for `arca seal`. Making its tar reads `arca-init` and its libraries (~40 MiB)
/// and hashing it is another pass: a large share of a re-seal that changes one layer. So the
/// tar's digest is remembered in the cache (`<cache>/runtime/<key>.json`), next to the stamps
/// (device, inode, size, mtime, ctime) of every file it was made from and of the library search
/// directories; while all stamps match, the seal gets the digest without reading anything and
/// makes the tar only if the layer cache lacks the compressed layer. Otherwise the tar is made
/// in pass one (beside the layers, not before them) and the fingerprint saved after the seal. A rebuilt or replaced file
/// changes its stamp (a new ctime at least), and the sealer keys what it stores by the digest
/// of the tar it really made, so a stale fingerprint costs a recompression, never a wrong layer.
/// The file carries an HMAC under a key derived from the master key, like the cache's sealed
/// records: one edited to name another cached runtime (an older arca-init) is ignored.
enum SealRuntime {
    struct Stamp: Codable, Equatable {
        var path: String
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: String
        var changed: String
    }

    struct Fingerprint: Codable, Equatable {
        var digest: String
        var stamps: [Stamp]
    }

    struct SignedFingerprint: Codable {
        var fingerprint: Fingerprint
        /// HMAC-SHA256 (hex) of the fingerprint's canonical JSON.
        var mac: String
    }

    /// The runtime layer input: from the fingerprint when it matches; else one whose tar is made
    /// when the sealer first needs it (in pass one, beside the layers), with `remember` to call
    /// after the seal with the runtime layer's diff_id (the tar's digest) to save the fingerprint.
    static func input(arcaInit: String, modificationTime: Int64, work: String, cacheRoot: String?,
                      masterKey: MasterKey) throws -> (input: RuntimeLayerInput, remember: (String) -> Void) {
        let options = RuntimeLayer.Options(modificationTime: modificationTime)
        let tarPath = work + "/runtime.tar"
        let sources = Sources()
        let makeTar: @Sendable () throws -> String = {
            try sources.files.withLock { files in
                if files == nil {
                    let members = try RuntimeLayer.members(arcaInit: arcaInit, options: options)
                    try RuntimeLayer.write(members, modificationTime: modificationTime, to: FileSink(path: tarPath, permissions: [.ownerReadWrite]))
                    files = members.map(\.source).filter { !$0.isEmpty && $0 != arcaInit }
                }
            }
            return tarPath
        }
        guard let cacheRoot else { return (RuntimeLayerInput(tar: makeTar), { _ in }) }
        let file = cacheRoot + "/runtime/" + sha256Hex(Array("arca-runtime-fingerprint/1\0\(arcaInit)\0\(modificationTime)\0\(masterKey.id)".utf8)) + ".json"
        let macKey = masterKey.withUnsafeBytes {
            HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: Array($0)), salt: Array("arca-seal-cache".utf8),
                                   info: Array("arca-seal-cache/1 runtime-fingerprint".utf8), outputByteCount: 32)
        }
        func mac(_ fingerprint: Fingerprint) throws -> String {
            Hex.encode(HMAC<SHA256>.authenticationCode(for: try CanonicalJSON.encode(fingerprint), using: macKey))
        }
        if let signed = try? CanonicalJSON.decode(SignedFingerprint.self, from: FileSystem.readFile(file, limit: 1 << 20), source: file),
           let expected = try? mac(signed.fingerprint), ConstantTime.equals(Array(expected.utf8), Array(signed.mac.utf8)),
           signed.fingerprint.stamps.first?.path == arcaInit, signed.fingerprint.stamps.allSatisfy({ stamp($0.path) == $0 }) {
            return (RuntimeLayerInput(digest: signed.fingerprint.digest, tar: makeTar), { _ in })
        }
        let remember: (String) -> Void = { diffID in
            // Only for the tar this seal made (else nothing says which files it came from).
            guard let libraries = sources.files.withLock({ $0 }), diffID.hasPrefix("sha256:") else { return }
            // The files in the layer, then the directories the loader and libraries came from and
            // those libraries are searched in (an added library changes its directory's mtime;
            // the directory of arca-init is not one of them: a build or work directory changes
            // all the time).
            var paths = [arcaInit] + libraries
            for directory in libraries.map(parent) where !paths.contains(directory) { paths.append(directory) }
            for directory in searchDirectories() where !paths.contains(directory) { paths.append(directory) }
            // Best effort: without a fingerprint the next seal reads the files again.
            try? FileSystem.makeDirectories(cacheRoot + "/runtime", permissions: 0o700)
            let fingerprint = Fingerprint(digest: String(diffID.dropFirst("sha256:".count)), stamps: paths.map(stamp))
            if let bytes = try? CanonicalJSON.encode(SignedFingerprint(fingerprint: fingerprint, mac: mac(fingerprint))) {
                try? FileSystem.writeAtomically(bytes, to: file, permissions: [.ownerReadWrite])
            }
        }
        return (RuntimeLayerInput(tar: makeTar), remember)
    }

    /// The files (other than arca-init) the tar was made from, once it is made.
    final class Sources: Sendable {
        let files = Mutex<[String]?>(nil)
    }

    /// The parent directory of an absolute path (`/a/b` → `/a`, `/a` → `/`).
    private static func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Where `DT_NEEDED` libraries of this machine's binaries are looked up.
    private static func searchDirectories() -> [String] {
        #if arch(x86_64)
        LibraryResolver.debianDirectories(machine: 62)
        #elseif arch(arm64)
        LibraryResolver.debianDirectories(machine: 183)
        #else
        []
        #endif
    }

    /// The stamp of `path` (following symlinks); a path that is not there has size -1.
    static func stamp(_ path: String) -> Stamp {
        var info = stat()
        guard stat(path, &info) == 0 else { return Stamp(path: path, device: 0, inode: 0, size: -1, modified: "", changed: "") }
        return Stamp(path: path, device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                     modified: "\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)", changed: "\(info.st_ctim.tv_sec).\(info.st_ctim.tv_nsec)")
    }
}
