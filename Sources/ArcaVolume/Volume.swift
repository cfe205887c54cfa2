import ArcaCore
import ArcaCrypto
import Crypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A mounted-in-process encrypted read-write volume (docs/FORMAT.md, "Volumes").
///
/// Changes live in memory (dirty chunks, the tree) until `commit`, which makes them durable as
/// the next version: the new segment file(s), then the metadata file, then the anchor's intent
/// and commit. A crash anywhere leaves the last committed version or the next one. All methods
/// are safe to call from several threads (one lock; a commit holds it while it writes).
public final class Volume: @unchecked Sendable {
    // @unchecked: every mutable field below is touched only while `lock` is held.
    public static let allowedChunkSizes: Set<Int> = [4096, 16_384, 65_536, 262_144]
    /// 16 KiB: a 4 KiB random read or write costs one 16 KiB chunk; segments keep large writes cheap.
    public static let defaultChunkSize = 16_384
    /// Dirty plaintext kept in memory before it is written out as a segment (not yet committed).
    /// 8 MiB: large enough for few segments, small enough to stay in the CPU caches.
    static let dirtyLimit = 8 << 20
    /// The largest file size (offsets stay far inside Int64).
    static let maximumFileSize: UInt64 = 1 << 50

    /// The steps of a commit, for fault-injection tests (`commitHook`).
    enum CommitStep: Sendable { case chunksWritten, metadataWritten, intentRecorded, committed }

    let lock = VolumeLock()
    /// Held by a write-out or a commit for its whole length, always before `lock`: one at a
    /// time (VolumeWriteOut.swift).
    let flushLock = VolumeLock()
    let host: HostDirectory
    let keys: VolumeKeys
    let cipher: ChunkCipher
    let anchor: any VolumeAnchor
    public let chunkSize: Int

    var tree: VolumeTree
    var currentVersion: UInt64
    var currentRoot: Hash256
    /// The last committed version.
    public var version: UInt64 { lock.withLock { _ in currentVersion } }
    /// The root hash (SHA-256 of the metadata file) of the last committed version.
    public var rootHash: Hash256 { lock.withLock { _ in currentRoot } }
    var changed = false
    var dirty: [UInt64: [UInt64: [UInt8]]] = [:]
    var dirtyBytes = 0
    /// The chunks a write-out is sealing with the lock released (by inode and index); reads find
    /// them here until the tree points at their new places. A truncate or delete removes theirs.
    var inFlight: [UInt64: [UInt64: [UInt8]]] = [:]
    /// Recently decrypted chunks by place (FIFO): a 4 KiB read or read-modify-write in a chunk
    /// then decrypts it once, not once per request. A place is written once (segment numbers are
    /// not reused within a process), so a cached plaintext stays valid.
    var chunkCache: [ChunkPlace: [UInt8]] = [:]
    var chunkCacheOrder: [ChunkPlace] = []
    static let chunkCacheSize = 64
    /// Per segment file: its size and the sealed bytes the tree (or an open orphan) still references.
    var segments: [UInt64: SegmentUse] = [:]
    /// Segment files written since the last commit, fsynced together by the next one.
    var unsynced: [UInt64] = []
    /// Chunks no longer referenced; their segments' live bytes drop once a version without them
    /// is committed (a segment with none left is removed).
    var obsolete: [ChunkReference] = []
    /// Unlinked files still open (POSIX keeps them readable until the last close); never stored.
    var orphans: [UInt64: Node] = [:]
    var openCounts: [UInt64: Int] = [:]
    var session: [UInt8] = randomBytes(16)
    var sessionKey: AESGCMKey
    var counter: UInt64 = 0
    var keyCache: [[UInt8]: AESGCMKey] = [:]
    var closed = false
    /// Where a write-out seals a segment (`flushLock` guards it); kept between write-outs (fresh
    /// memory for every one cost page faults and zeroing — measured).
    var sealBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 64)
    /// Replaces `cleanerSlack` (tests only: they cannot write 64 MiB quickly).
    var cleanerSlackOverride: Int?
    /// Called during each write-out between taking the dirty chunks and sealing them, with the
    /// lock released; a throw simulates a failed write (tests only).
    var writeOutHook: (@Sendable () throws -> Void)?
    /// Called by a partial-chunk write between fetching the old chunks and applying the write,
    /// with the lock released (tests only: they change the chunks meanwhile).
    var writeFetchHook: (@Sendable () throws -> Void)?
    /// Called after each commit step; a throw simulates a crash there (tests only).
    var commitHook: (@Sendable (CommitStep) throws -> Void)?

    deinit { sealBuffer.deallocate() }

    private init(host: HostDirectory, keys: VolumeKeys, anchor: any VolumeAnchor, chunkSize: Int, tree: VolumeTree,
                 point: AnchorPoint) throws {
        self.host = host
        self.keys = keys
        self.cipher = ChunkCipher(keys: keys)
        self.anchor = anchor
        self.chunkSize = chunkSize
        self.tree = tree
        self.currentVersion = point.version
        self.currentRoot = point.root
        self.sessionKey = try keys.chunkCipherKey(session: session)
    }

    /// Creates an empty volume in `path` (created if missing, must hold no volume) as version 1,
    /// anchored in `anchor` (which must hold nothing yet). Returns it open, lease held.
    public static func create(at path: String, key: MasterKey, anchor: any VolumeAnchor, chunkSize: Int = defaultChunkSize,
                              uid: UInt32 = getuid(), gid: UInt32 = getgid()) throws -> Volume {
        guard allowedChunkSizes.contains(chunkSize) else {
            throw ArcaError(.invalidArgument, "volume chunk size \(chunkSize) is not one of \(allowedChunkSizes.sorted())")
        }
        let host = try HostDirectory(path: path, create: true)
        try host.acquireLease()
        guard !host.exists("volume") else { throw ArcaError(.alreadyExists, "\(path) already holds a volume") }
        try anchor.lease()
        let existing = try anchor.read()
        guard existing.committed == nil else {
            throw ArcaError(.alreadyExists, "the anchor already holds \(existing.committed!) for a volume; a new volume needs a fresh anchor")
        }
        let keys = try VolumeKeys(masterKey: key, volumeId: randomBytes(VolumeKeys.idSize))
        try host.makeDirectory("meta")
        try host.makeDirectory("segments")
        let header = VolumeHeader(volumeId: keys.volumeId, chunkSize: chunkSize, keyCheck: keys.keyCheck)
        try host.replaceDurably("volume", header.encoded(), directory: ".")
        let tree = VolumeTree.empty(fileId: randomBytes(16), uid: uid, gid: gid, now: now())
        let volume = try Volume(host: host, keys: keys, anchor: anchor, chunkSize: chunkSize, tree: tree,
                                point: AnchorPoint(version: 0, root: .zero))
        volume.changed = true
        try volume.commit()
        return volume
    }

    /// Opens the volume in `path`: takes the lease, accepts the anchored version (or the intended
    /// next one, completing its commit), refuses anything else, and removes leftovers of
    /// unfinished commits.
    public static func open(at path: String, key: MasterKey, anchor: any VolumeAnchor) throws -> Volume {
        let host = try HostDirectory(path: path, create: false)
        try host.acquireLease()
        let header = try VolumeHeader.decode(try host.read("volume", limit: VolumeHeader.size + 1))
        let keys = try VolumeKeys(masterKey: key, volumeId: header.volumeId)
        guard keys.keyCheck == header.keyCheck else {
            throw ArcaError(.integrity, "the volume key does not open the volume at \(path) (key check mismatch)")
        }
        try anchor.lease()
        let state = try anchor.read()
        guard let committed = state.committed else {
            throw ArcaError(.rollback, "the anchor holds no version for the volume at \(path); refusing to trust the host's copy")
        }
        func load(_ version: UInt64) throws -> (bytes: [UInt8], root: Hash256)? {
            guard let bytes = try? host.read("meta/" + MetadataFile.name(version: version), limit: MetadataFile.maximumSize) else { return nil }
            return (bytes, Hash256(SHA256.hash(data: bytes)))
        }
        var chosen: (point: AnchorPoint, bytes: [UInt8])?
        if let intent = state.intent, intent.version == committed.version + 1, let next = try load(intent.version), next.root == intent.root {
            try anchor.commit(intent)  // the crash fell between intent and commit: finish it
            chosen = (intent, next.bytes)
        } else if let current = try load(committed.version) {
            guard current.root == committed.root else {
                throw ArcaError(.rollback, "volume at \(path) version \(committed.version) has root \(current.root.hex.prefix(16))…, but the anchor holds root \(committed.root.hex.prefix(16))… for that version: refusing an altered or mixed copy")
            }
            // An abandoned intent stays until the next commit replaces it. Should the host later
            // bring back that version's metadata, it is a state this volume intended (accepted),
            // though segments collected below may then be missing or reused: EIO, never wrong bytes.
            chosen = (committed, current.bytes)
        }
        guard let chosen else {
            let onDisk = (try? host.list("meta"))?.compactMap { UInt64($0, radix: 16) }.max()
            let found = onDisk.map { "version \($0)" } ?? "no version"
            throw ArcaError(.rollback, "volume at \(path) holds \(found), but the anchor is at version \(committed.version): refusing a rolled-back or altered copy")
        }
        let tree = try MetadataFile.open(chosen.bytes, keys: keys, version: chosen.point.version, chunkSize: header.chunkSize)
        let volume = try Volume(host: host, keys: keys, anchor: anchor, chunkSize: header.chunkSize, tree: tree, point: chosen.point)
        volume.collectGarbage()
        return volume
    }

    /// Removes segment files and metadata files the current version does not reference, and
    /// learns the size of each segment it does (for the cleaner).
    private func collectGarbage() {
        let use = tree.segmentUse
        for name in (try? host.list("segments")) ?? [] {
            guard name.utf8.count == 16, let number = UInt64(name, radix: 16), let live = use[number] else {
                host.remove("segments/" + name)
                continue
            }
            segments[number] = SegmentUse(size: (try? host.size(of: "segments/" + name)) ?? live, live: live)
        }
        let current = MetadataFile.name(version: currentVersion)
        for name in (try? host.list("meta")) ?? [] where name != current { host.remove("meta/" + name) }
    }

    /// Makes every change so far durable as the next version (a no-op when nothing changed).
    ///
    /// The dirty chunks are sealed and written with the volume lock released (writes go on
    /// meanwhile; those that land before the lock is taken again are in this version too); the
    /// lock is held from the last write-out to the anchor's commit. The segments' fsync stays
    /// under the lock, overlapping the metadata's sealing: the kernel sends no writes while it
    /// waits for an fsync, so releasing the lock there would only lose that overlap.
    public func commit() throws {
        try flushLock.withLock { _ in
            try writeOutUnlocked(onlyAboveLimit: false)
            try lock.withLock { _ in try commitLocked() }
        }
    }

    func commitLocked() throws {
        guard !closed else { throw ArcaError(.io, "volume at \(host.path) is closed") }
        guard changed else { return }
        try compactSegments()
        try flushDirtyChunks()
        try commitHook?(.chunksWritten)
        // The new segment files, the metadata file and their directory entries are durable before
        // the intent names the metadata: files and directories fsynced at once (no order among
        // them is needed: nothing is renamed, and nothing reads them before the intent). The
        // metadata file is written under its final name: until the intent, nothing reads it (a
        // leftover of a failed commit under that name is replaced, or collected at start).
        // The segments' fsync runs while the metadata is sealed and written (the larger costs of
        // a commit after many small writes: measured), then the metadata and the directories.
        let next = currentVersion + 1
        let metadataName = "meta/" + MetadataFile.name(version: next)
        let segmentNames = unsynced.map { "segments/" + ChunkReference.segmentName($0) }
        let (tree, keys, chunkSize, host) = (tree, keys, chunkSize, host)
        let sealed = try Parallel.map(segmentNames.isEmpty ? 1 : 2, width: 2) { task -> [UInt8] in
            if task == 1 {
                try host.syncFiles(segmentNames)
                return []
            }
            let bytes = try MetadataFile.seal(tree: tree, keys: keys, version: next, chunkSize: chunkSize)
            try host.writeFile(metadataName, bytes)
            try host.syncFiles([metadataName, "meta"] + (segmentNames.isEmpty ? [] : ["segments"]))
            return bytes
        }
        let bytes = sealed[0]
        unsynced.removeAll()
        try commitHook?(.metadataWritten)
        let point = AnchorPoint(version: next, root: Hash256(SHA256.hash(data: bytes)))
        try anchor.intent(point)
        try commitHook?(.intentRecorded)
        try anchor.commit(point)
        try commitHook?(.committed)
        if currentVersion > 0 { host.remove("meta/" + MetadataFile.name(version: currentVersion)) }
        releaseObsolete()
        currentVersion = next
        currentRoot = point.root
        changed = false
    }

    /// Drops the obsolete chunks from their segments' live bytes and removes segments left with
    /// none (no committed version references them any more).
    func releaseObsolete() {
        for chunk in obsolete {
            guard var use = segments[chunk.segment] else { continue }
            use.live -= chunk.sealedSize
            if use.live <= 0 {
                segments[chunk.segment] = nil
                host.remove("segments/" + ChunkReference.segmentName(chunk.segment))
            } else {
                segments[chunk.segment] = use
            }
        }
        obsolete.removeAll()
    }

    /// Seals every dirty chunk into one new segment file (not yet committed: the tree in memory
    /// points into it, the committed metadata does not), lock and `flushLock` held.
    func flushDirtyChunks() throws {
        guard let job = try prepareWriteOut() else { return }
        let placed: [ChunkReference]
        do {
            placed = try performWriteOut(job)
        } catch {
            abortWriteOut(job)
            throw error
        }
        finishWriteOut(job, placed: placed)
    }

    /// Commits and closes: the lease is released. Further calls fail.
    public func close() throws {
        try flushLock.withLock { _ in
            try writeOutUnlocked(onlyAboveLimit: false)
            try lock.withLock { _ in
                guard !closed else { return }
                try commitLocked()
                closed = true
                host.close()
                try anchor.releaseLease()
            }
        }
    }

    /// Drops everything not committed and releases the lease, as a crash would (tests).
    func abandon() {
        flushLock.withLock { _ in
            lock.withLock { _ in
                closed = true
                host.close()
            }
        }
    }

    /// The key of a chunk's write session (cached: sessions are few).
    func key(for session: [UInt8]) throws -> AESGCMKey {
        if session == self.session { return sessionKey }
        if let key = keyCache[session] { return key }
        let key = try keys.chunkCipherKey(session: session)
        if keyCache.count > 64 { keyCache.removeAll() }
        keyCache[session] = key
        return key
    }
}
