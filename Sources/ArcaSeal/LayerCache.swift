import ArcaCore
import ArcaCrypto
import ArcaShield
import Crypto
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// The per-layer cache of `arca seal` (docs/SEALING.md, "The per-layer cache").
///
/// An entry is keyed by everything a layer's outcome depends on — the input layer's digest and
/// diff_id, the policy, the master key's id, the shield format version and chunk size, the gzip
/// level and the time clamp — and holds, in a 0700 directory `<root>/v2/<key>/` (files 0600):
/// - `record`: the `LayerRecord` (entry list, chunk digests of authenticated files, where each
///   encrypted file sits in the stream, the stream's id, size and chunk count, the artifacts'
///   digests), sealed with AES-256-GCM under a key derived from the master key (random nonce,
///   the cache key as additional data). It holds names, sizes and metadata of encrypted files
///   (plaintext-derived, hence sealed) but never their bytes;
/// - `blob.tar`: the blob layer (ciphertext, public by design);
/// - `rewritten.tar.gz`: the layer rewritten without its encrypted paths (no encrypted bytes).
///
/// Entries are made in a temporary directory and renamed into place (atomic). On use the record
/// must open under this master key and this cache key (a foreign, swapped or corrupted record is
/// refused and recomputed), and the artifacts are checked against the digests the record names
/// when they are copied (a corrupted artifact fails that check: the entry is dropped and the
/// layer recomputed).
struct LayerCache: Sendable {
    let root: String
    /// The most bytes the entries may hold after a seal (`trim`); 0 for no bound.
    let limit: UInt64
    /// When this seal opened the cache: entries used since are its own, never trimmed.
    private let opened: timespec
    private let recordKey: SymmetricKey

    init(root: String, masterKey: MasterKey, limit: UInt64 = SealOptions.defaultCacheLimit) throws {
        self.root = root + "/v\(ShieldFormat.version)"
        self.limit = limit
        try FileSystem.makeDirectories(self.root, permissions: 0o700)
        // "Now" in the file system's own clock (its timestamps are coarser than the system's),
        // so that an entry this seal touches is never older than the seal.
        var info = stat()
        guard utimensat(AT_FDCWD, self.root, nil, 0) == 0, stat(self.root, &info) == 0 else {
            throw ArcaError(.io, "cannot use the cache directory \(self.root): \(String(cString: strerror(errno)))")
        }
        opened = info.st_mtim
        // The cache may be shared by several users' seals only through its owner: make it private.
        chmod(root, 0o700)
        chmod(self.root, 0o700)
        let bytes = masterKey.withUnsafeBytes { Array($0) }
        recordKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: bytes), salt: Array("arca-seal-cache".utf8),
                                           info: Array("arca-seal-cache/1 record-key".utf8), outputByteCount: 32)
    }

    /// The default location: `$XDG_CACHE_HOME/arca`, else `~/.cache/arca`.
    static func defaultRoot(environment: [String: String]) -> String? {
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") { return xdg + "/arca" }
        if let home = environment["HOME"], home.hasPrefix("/") { return home + "/.cache/arca" }
        return nil
    }

    /// The cache key: SHA-256 of every input the layer's outcome depends on.
    static func key(layerDigest: String, diffID: String, mediaType: String, policy: [UInt8], keyID: String,
                    chunkSize: Int, compressionLevel: Int32, clampTime: Int64?) -> String {
        var hasher = SHA256()
        for field in ["arca-seal-cache", "format \(ShieldFormat.version)", "chunk \(chunkSize)", layerDigest, diffID, mediaType,
                      "key \(keyID)", "gzip \(compressionLevel)", "clamp \(clampTime.map(String.init) ?? "none")"] {
            hasher.update(data: Array(field.utf8) + [0])
        }
        hasher.update(data: policy)
        return Hex.encode(hasher.finalize())
    }

    func directory(_ key: String) -> String { root + "/" + key }

    /// A fresh private directory to build an entry in (renamed into place by `commit`).
    func makeStaging() throws -> String {
        try FileSystem.makeTemporaryDirectory(prefix: ".staging", in: root)
    }

    /// Seals `record` into `staging/record`, then moves the staging directory to the entry's
    /// place. Losing a race with another seal of the same layer is fine: its entry is equal.
    func commit(_ record: LayerRecord, key: String, staging: String) throws {
        let plaintext = LayerRecordCodec.encode(record)
        let box = try AES.GCM.seal(plaintext, using: recordKey, nonce: AES.GCM.Nonce(), authenticating: Array(key.utf8))
        guard let combined = box.combined else { throw ArcaError(.io, "cannot seal the cache record") }
        try FileSystem.writeAtomically(Array(combined), to: staging + "/record", permissions: [.ownerReadWrite])
        let target = directory(key)
        if FileSystem.exists(target) { try FileSystem.removeTree(target) }
        do {
            try FileSystem.rename(staging, to: target)
            Self.markUsed(target)
        } catch {
            try? FileSystem.removeTree(staging)
        }
    }

    enum Lookup {
        case hit(LayerRecord)
        case miss
        /// An entry was there but failed a check (it was removed); the reason names it.
        case rejected(String)
    }

    /// The entry under `key`; one that does not verify is removed and reported.
    func load(_ key: String) -> Lookup {
        let directory = directory(key)
        guard FileSystem.exists(directory + "/record") else { return .miss }
        do {
            let sealed = try FileSystem.readFile(directory + "/record", limit: 1 << 30)
            let plaintext: [UInt8]
            do {
                plaintext = Array(try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: recordKey, authenticating: Array(key.utf8)))
            } catch {
                throw ArcaError(.integrity, "cache record \(key.prefix(12))… does not open under this key (foreign or corrupted)")
            }
            let record = try LayerRecordCodec.decode(plaintext)
            for (artifact, name) in [(record.blobLayer, "blob.tar"), (record.rewritten, "rewritten.tar.gz")] {
                guard let artifact else { continue }
                guard (try? FileSystem.size(directory + "/" + name)) == artifact.size else {
                    throw ArcaError(.integrity, "cache entry \(key.prefix(12))…: \(name) is missing or has the wrong size")
                }
            }
            Self.markUsed(directory)
            return .hit(record)
        } catch {
            evict(key)
            return .rejected((error as? ArcaError)?.message ?? "\(error)")
        }
    }

    /// Removes an entry that failed a check.
    func evict(_ key: String) {
        try? FileSystem.removeTree(directory(key))
    }

    /// An entry's last use is its directory's modification time: set when it is made or hit.
    private static func markUsed(_ directory: String) {
        _ = utimensat(AT_FDCWD, directory, nil, 0)
    }

    /// Keeps the cache within `limit`: removes the least recently used entries until the rest
    /// hold at most `limit` bytes (on disk), never one used or made since the cache was opened
    /// (this seal's, which may exceed the limit on their own), and staging directories that
    /// crashed seals left more than a day ago. Returns the bytes removed.
    @discardableResult
    func trim() -> UInt64 {
        let since = opened
        guard let names = try? FileSystem.listDirectory(root) else { return 0 }
        var entries: [(path: String, used: timespec, bytes: UInt64)] = []
        for name in names {
            let path = root + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { continue }
            if name.hasPrefix(".staging") {
                if info.st_mtim.tv_sec < since.tv_sec - 86_400 { try? FileSystem.removeTree(path) }
                continue
            }
            // Entries are named by their 64-hex-digit key; `runtime/` (fingerprints) and
            // anything else are not entries.
            guard name.utf8.count == 64, Hex.decode(name) != nil else { continue }
            entries.append((path, info.st_mtim, Self.diskUsage(of: path)))
        }
        var total = entries.reduce(0) { $0 + $1.bytes }
        guard limit > 0, total > limit else { return 0 }
        var removed: UInt64 = 0
        for entry in entries.sorted(by: { Self.earlier($0.used, $1.used) }) where total > limit {
            guard Self.earlier(entry.used, since) else { break }  // the rest were used by this seal
            if (try? FileSystem.removeTree(entry.path)) != nil {
                total -= entry.bytes
                removed += entry.bytes
            }
        }
        return removed
    }

    private static func earlier(_ a: timespec, _ b: timespec) -> Bool {
        a.tv_sec != b.tv_sec ? a.tv_sec < b.tv_sec : a.tv_nsec < b.tv_nsec
    }

    /// The bytes the files directly in `directory` occupy on disk.
    private static func diskUsage(of directory: String) -> UInt64 {
        ((try? FileSystem.listDirectory(directory)) ?? []).reduce(0) { sum, name in
            var info = stat()
            return lstat(directory + "/" + name, &info) == 0 ? sum + UInt64(info.st_blocks) * 512 : sum
        }
    }
}
