import ArcaCore
import ArcaCrypto
import Crypto
import Synchronization

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

    let lock = Mutex(())
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
    var sessionKey: SymmetricKey
    var counter: UInt64 = 0
    var keyCache: [[UInt8]: SymmetricKey] = [:]
    var closed = false
    /// Where `flushDirtyChunks` seals a segment; kept between flushes (fresh memory for every
    /// flush cost page faults and zeroing — measured).
    var sealBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 64)
    /// Replaces `cleanerSlack` (tests only: they cannot write 64 MiB quickly).
    var cleanerSlackOverride: Int?
    /// Called after each commit step; a throw simulates a crash there (tests only).
    var commitHook: (@Sendable (CommitStep) throws -> Void)?

    deinit { sealBuffer.deallocate() }

    private init(host: HostDirectory, keys: VolumeKeys, anchor: any VolumeAnchor, chunkSize: Int, tree: VolumeTree,
                 point: AnchorPoint) {
        self.host = host
        self.keys = keys
        self.cipher = ChunkCipher(keys: keys)
        self.anchor = anchor
        self.chunkSize = chunkSize
        self.tree = tree
        self.currentVersion = point.version
        self.currentRoot = point.root
        self.sessionKey = keys.chunkKey(session: session)
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
        let volume = Volume(host: host, keys: keys, anchor: anchor, chunkSize: chunkSize, tree: tree,
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
        let volume = Volume(host: host, keys: keys, anchor: anchor, chunkSize: header.chunkSize, tree: tree, point: chosen.point)
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
    public func commit() throws {
        try lock.withLock { _ in try commitLocked() }
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
    /// points into it, the committed metadata does not). Each chunk's place follows from the
    /// sizes before it, so two threads seal and write the two halves of the segment at once.
    func flushDirtyChunks() throws {
        var items: [(inode: UInt64, index: UInt64, fileId: [UInt8], plaintext: [UInt8])] = []
        var removed: [(inode: UInt64, index: UInt64)] = []
        for (inode, chunks) in dirty where tree.nodes[inode] != nil {  // an orphan's dirty data stays in memory
            let fileId = tree.nodes[inode]!.fileId
            for (index, plaintext) in chunks {
                if plaintext.isEmpty { removed.append((inode, index)) } else { items.append((inode, index, fileId, plaintext)) }
            }
        }
        var placed: [ChunkReference] = []
        if !items.isEmpty {
            if counter + UInt64(items.count) > ChunkCipher.sessionLimit {
                session = randomBytes(16)
                sessionKey = keys.chunkKey(session: session)
                counter = 0
            }
            let first = counter
            counter += UInt64(items.count)  // never reused, even if this flush fails
            var offsets: [Int] = []
            offsets.reserveCapacity(items.count + 1)
            var total = 0
            for item in items {
                offsets.append(total)
                total += item.plaintext.count + ChunkCipher.tagSize
            }
            offsets.append(total)
            let middle = offsets.firstIndex { $0 >= total / 2 } ?? items.count
            let halves = [0..<middle, middle..<items.count].filter { !$0.isEmpty }
            let segment = tree.nextSegment
            let writer = try HostDirectory.FileWriter(host, "segments/" + ChunkReference.segmentName(segment))
            if sealBuffer.count < total {
                sealBuffer.deallocate()
                sealBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: total, alignment: 64)
            }
            let buffer = sealBuffer
            let (key, session, writeVersion, cipher) = (sessionKey, session, currentVersion + 1, cipher)
            do {
                placed = try Parallel.map(halves.count, width: 2) { half -> [ChunkReference] in
                    var references: [ChunkReference] = []
                    for k in halves[half] {
                        let item = items[k]
                        var reference = try cipher.seal(item.plaintext, key: key, session: session, counter: first + UInt64(k), fileId: item.fileId,
                                                        index: item.index, writeVersion: writeVersion,
                                                        into: UnsafeMutableRawBufferPointer(rebasing: buffer[offsets[k]..<offsets[k + 1]]))
                        reference.segment = segment
                        reference.offset = UInt64(offsets[k])
                        references.append(reference)
                    }
                    let range = offsets[halves[half].lowerBound]..<offsets[halves[half].upperBound]
                    try writer.write(UnsafeRawBufferPointer(rebasing: buffer[range]), at: range.lowerBound)
                    return references
                }.flatMap { $0 }
                writer.close()
            } catch {
                writer.discard()  // nothing changed: the tree does not point into it
                throw error
            }
            tree.nextSegment += 1
            unsynced.append(segment)
            segments[segment] = SegmentUse(size: total, live: total)
        }
        for (k, item) in items.enumerated() {
            if let old = tree.nodes[item.inode]!.chunks[item.index] { obsolete.append(old) }
            tree.nodes[item.inode]!.chunks[item.index] = placed[k]
        }
        for (inode, index) in removed {
            if let old = tree.nodes[inode]!.chunks[index] { obsolete.append(old) }
            tree.nodes[inode]!.chunks[index] = nil
        }
        dirty = dirty.filter { orphans[$0.key] != nil }  // unlinked-but-open files keep theirs in memory
        dirtyBytes = dirty.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.count } }
    }

    /// Commits and closes: the lease is released. Further calls fail.
    public func close() throws {
        try lock.withLock { _ in
            guard !closed else { return }
            try commitLocked()
            closed = true
            host.close()
            try anchor.releaseLease()
        }
    }

    /// Drops everything not committed and releases the lease, as a crash would (tests).
    func abandon() {
        lock.withLock { _ in
            closed = true
            host.close()
        }
    }

    /// The key of a chunk's write session (cached: sessions are few).
    func key(for session: [UInt8]) -> SymmetricKey {
        if session == self.session { return sessionKey }
        if let key = keyCache[session] { return key }
        let key = keys.chunkKey(session: session)
        if keyCache.count > 64 { keyCache.removeAll() }
        keyCache[session] = key
        return key
    }
}
