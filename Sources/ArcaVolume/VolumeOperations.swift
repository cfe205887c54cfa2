import ArcaCore
import ArcaCrypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The POSIX operations, by inode (inode 1 is the root). POSIX errors are `POSIXFailure`;
/// integrity failures `ArcaError` (`EIO` at the FUSE boundary).
extension Volume {
    public static let rootInode = VolumeTree.rootInode

    public func lookup(parent: UInt64, name: [UInt8]) throws -> VolumeAttributes {
        try lock.withLock { _ in
            let directory = try directoryNode(parent)
            guard let inode = directory.entries[name] else { throw POSIXFailure(ENOENT) }
            return attributes(of: try node(inode))
        }
    }

    public func attributes(inode: UInt64) throws -> VolumeAttributes {
        try lock.withLock { _ in attributes(of: try node(inode)) }
    }

    public func readLink(inode: UInt64) throws -> [UInt8] {
        try lock.withLock { _ in
            let node = try node(inode)
            guard node.kind == .symlink else { throw POSIXFailure(EINVAL) }
            return node.target
        }
    }

    /// The entries of a directory, sorted by name (without `.` and `..`).
    public func list(inode: UInt64) throws -> [(name: [UInt8], attributes: VolumeAttributes)] {
        try lock.withLock { _ in
            let directory = try directoryNode(inode)
            return try directory.entries.sorted { $0.key.lexicographicallyPrecedes($1.key) }
                .map { ($0.key, attributes(of: try node($0.value))) }
        }
    }

    /// The parent directory of a directory (the root's is itself).
    public func parent(of inode: UInt64) throws -> UInt64 {
        try lock.withLock { _ in try directoryNode(inode).parent }
    }

    public func create(parent: UInt64, name: [UInt8], permissions: UInt32, uid: UInt32, gid: UInt32) throws -> VolumeAttributes {
        try insert(parent: parent, name: name, kind: .file, permissions: permissions, uid: uid, gid: gid, target: [])
    }

    public func makeDirectory(parent: UInt64, name: [UInt8], permissions: UInt32, uid: UInt32, gid: UInt32) throws -> VolumeAttributes {
        try insert(parent: parent, name: name, kind: .directory, permissions: permissions, uid: uid, gid: gid, target: [])
    }

    public func makeSymlink(parent: UInt64, name: [UInt8], target: [UInt8], uid: UInt32, gid: UInt32) throws -> VolumeAttributes {
        guard !target.isEmpty, target.count <= VolumeTree.maximumTargetLength, !target.contains(0) else {
            throw POSIXFailure(target.isEmpty ? ENOENT : ENAMETOOLONG)
        }
        return try insert(parent: parent, name: name, kind: .symlink, permissions: 0o777, uid: uid, gid: gid, target: target)
    }

    private func insert(parent: UInt64, name: [UInt8], kind: NodeKind, permissions: UInt32, uid: UInt32, gid: UInt32,
                        target: [UInt8]) throws -> VolumeAttributes {
        try checkName(name)
        return try lock.withLock { _ in
            var directory = try directoryNode(parent)
            guard directory.entries[name] == nil else { throw POSIXFailure(EEXIST) }
            let time = now()
            var node = Node(inode: tree.nextInode, fileId: randomBytes(VolumeKeys.idSize), kind: kind,
                            permissions: permissions & 0o7777, uid: uid, gid: gid,
                            modificationSeconds: time.0, modificationNanoseconds: time.1, target: target)
            node.parent = parent
            tree.nextInode += 1
            tree.nodes[node.inode] = node
            directory.entries[name] = node.inode
            (directory.modificationSeconds, directory.modificationNanoseconds) = time
            tree.nodes[parent] = directory
            changed = true
            return attributes(of: node)
        }
    }

    /// Counts an open file (an unlinked file stays readable while open).
    public func open(inode: UInt64) throws -> VolumeAttributes {
        try lock.withLock { _ in
            let node = try node(inode)
            guard node.kind != .directory else { throw POSIXFailure(EISDIR) }
            openCounts[inode, default: 0] += 1
            return attributes(of: node)
        }
    }

    public func release(inode: UInt64) {
        lock.withLock { _ in
            let count = (openCounts[inode] ?? 1) - 1
            openCounts[inode] = count > 0 ? count : nil
            if count <= 0, let orphan = orphans.removeValue(forKey: inode) {
                obsolete += orphan.chunks.values
                dirty[inode] = nil
                inFlight[inode] = nil
                changed = changed || !orphan.chunks.isEmpty  // so the next commit deletes its files
            }
        }
    }

    /// Writes `bytes` at `offset` (extending the file, zero-filled, as needed).
    /// Past `dirtyLimit` dirty bytes, the call writes them out as a segment, with the lock
    /// released while sealing and writing (other writes go on; a write-out already running is
    /// waited for first: back pressure).
    ///
    /// A write that covers only part of a chunk needs the chunk's old plaintext. When that is not
    /// in memory, it is fetched and opened with the lock released (the kernel's writeback sends
    /// its requests from several threads: under the lock, their reads and decryptions ran one at
    /// a time), then the write is applied under the lock; a chunk that changed meanwhile (written,
    /// written out, truncated) is taken from where it is now instead (`plaintext(of:index:fetched:)`).
    public func write(inode: UInt64, offset: UInt64, bytes: UnsafeRawBufferPointer) throws -> Int {
        var fetched: [UInt64: FetchedChunk] = [:]
        var fileId: [UInt8] = []
        var full = try lock.withLock { _ -> Bool? in
            let node = try fileNode(inode)
            let end = offset + UInt64(bytes.count)
            guard offset <= Self.maximumFileSize, end <= Self.maximumFileSize else { throw POSIXFailure(EFBIG) }
            let fetches = try fetchPlan(node, offset: offset, end: end)
            guard fetches.isEmpty else {
                fetched = try beginFetches(fetches)
                fileId = node.fileId
                return nil
            }
            return try applyWrite(to: node, offset: offset, bytes: bytes, fetched: [:])
        }
        if full == nil {
            do {
                for (index, chunk) in fetched {
                    let sealed = try HostDirectory.readRange(chunk.descriptor, offset: chunk.reference.offset, count: chunk.reference.sealedSize,
                                                             what: "\(host.path)/segments/\(ChunkReference.segmentName(chunk.reference.segment))")
                    fetched[index]!.plaintext = try cipher.open(sealed[...], key: chunk.key, reference: chunk.reference, fileId: fileId, index: index)
                }
                try writeFetchHook?()
            } catch {
                lock.withLock { _ in for _ in fetched { host.endLockFreeRead() } }
                throw error
            }
            full = try lock.withLock { _ in
                for _ in fetched { host.endLockFreeRead() }
                return try applyWrite(to: try fileNode(inode), offset: offset, bytes: bytes, fetched: fetched)
            }
        }
        if full == true { try flushLock.withLock { _ in try writeOutUnlocked(onlyAboveLimit: true) } }
        return bytes.count
    }

    /// The chunks a write of `offset ..< end` covers only in part whose old plaintext is on disk
    /// only (not dirty, in flight, cached, or a hole), lock held.
    private func fetchPlan(_ node: Node, offset: UInt64, end: UInt64) throws -> [(index: UInt64, reference: ChunkReference)] {
        var fetches: [(index: UInt64, reference: ChunkReference)] = []
        var position = offset
        while position < end {
            let index = position / UInt64(chunkSize)
            let base = index * UInt64(chunkSize)
            let next = min(end, base + UInt64(chunkSize))
            let oldLength = min(UInt64(chunkSize), node.size > base ? node.size - base : 0)
            if !(position == base && next - position >= oldLength), dirty[node.inode]?[index] == nil,
               inFlight[node.inode]?[index] == nil, let reference = node.chunks[index], chunkCache[ChunkPlace(reference)] == nil {
                fetches.append((index, reference))
            }
            position = next
        }
        return fetches
    }

    /// Takes a kept descriptor for each chunk to fetch without the lock (lock held); each is
    /// released with `host.endLockFreeRead()`.
    private func beginFetches(_ fetches: [(index: UInt64, reference: ChunkReference)]) throws -> [UInt64: FetchedChunk] {
        var fetched: [UInt64: FetchedChunk] = [:]
        do {
            for (index, reference) in fetches {
                let descriptor = try host.beginLockFreeRead("segments/" + ChunkReference.segmentName(reference.segment))
                fetched[index] = FetchedChunk(reference: reference, key: try key(for: reference.session), descriptor: descriptor)
            }
        } catch {
            for _ in fetched { host.endLockFreeRead() }
            throw error
        }
        return fetched
    }

    /// Applies a write to `node`, the file as it is now (lock held); true when the dirty chunks
    /// passed `dirtyLimit`.
    private func applyWrite(to node: Node, offset: UInt64, bytes: UnsafeRawBufferPointer, fetched: [UInt64: FetchedChunk]) throws -> Bool {
        var node = node
        let inode = node.inode
        let end = offset + UInt64(bytes.count)
        var position = offset
        while position < end {
            let index = position / UInt64(chunkSize)
            let base = index * UInt64(chunkSize)
            let within = Int(position - base)
            let count = Int(min(end, base + UInt64(chunkSize)) - position)
            // A chunk overwritten from its start to (at least) the old end needs no read.
            let oldLength = min(UInt64(chunkSize), node.size > base ? node.size - base : 0)
            let source = UnsafeRawBufferPointer(rebasing: bytes[Int(position - offset)..<Int(position - offset) + count])
            var chunk: [UInt8]
            let before: Int
            if within == 0 && UInt64(count) >= oldLength {
                before = dirty[inode]?[index]?.count ?? 0
                chunk = Array(source)  // one copy, no zero fill
            } else {
                chunk = try plaintext(of: node, index: index, fetched: fetched[index])
                before = chunk.count
                if chunk.count < within + count { chunk.append(contentsOf: repeatElement(0, count: within + count - chunk.count)) }
                chunk.withUnsafeMutableBytes { UnsafeMutableRawBufferPointer(rebasing: $0[within..<within + count]).copyMemory(from: source) }
            }
            if dirty[inode]?[index] == nil { dirtyBytes += chunk.count } else { dirtyBytes += chunk.count - before }
            dirty[inode, default: [:]][index] = chunk
            position += UInt64(count)
        }
        node.size = max(node.size, end)
        (node.modificationSeconds, node.modificationNanoseconds) = now()
        store(node)
        changed = true
        return dirtyBytes > Self.dirtyLimit
    }

    /// chmod, chown, truncate, utimens.
    public func setAttributes(inode: UInt64, _ update: AttributeUpdate) throws -> VolumeAttributes {
        try lock.withLock { _ in
            var node = try node(inode)
            if let permissions = update.permissions { node.permissions = permissions & 0o7777 }
            if let uid = update.uid { node.uid = uid }
            if let gid = update.gid { node.gid = gid }
            if let size = update.size {
                guard node.kind == .file else { throw POSIXFailure(node.kind == .directory ? EISDIR : EINVAL) }
                guard size <= Self.maximumFileSize else { throw POSIXFailure(EFBIG) }
                try truncate(&node, to: size)
                (node.modificationSeconds, node.modificationNanoseconds) = now()
            }
            if let time = update.modificationTime { (node.modificationSeconds, node.modificationNanoseconds) = time }
            store(node)
            changed = true
            return attributes(of: node)
        }
    }

    private func truncate(_ node: inout Node, to size: UInt64) throws {
        if size < node.size {
            let keep = (size + UInt64(chunkSize) - 1) / UInt64(chunkSize)  // chunks [0, keep) survive
            for index in node.chunks.keys where index >= keep {
                obsolete.append(node.chunks[index]!)
                node.chunks[index] = nil
            }
            if var chunks = dirty[node.inode] {
                for index in chunks.keys where index >= keep { chunks[index] = nil }
                dirty[node.inode] = chunks
            }
            if var chunks = inFlight[node.inode] {  // a write-out running must not bring them back
                for index in chunks.keys where index >= keep { chunks[index] = nil }
                inFlight[node.inode] = chunks
            }
            let base = size / UInt64(chunkSize) * UInt64(chunkSize)
            let within = Int(size - base)
            if within > 0, case let chunk = try plaintext(of: node, index: size / UInt64(chunkSize)), chunk.count > within {
                dirty[node.inode, default: [:]][size / UInt64(chunkSize)] = Array(chunk[..<within])
            }
        }
        node.size = size
    }

    public func unlink(parent: UInt64, name: [UInt8]) throws {
        try lock.withLock { _ in
            var directory = try directoryNode(parent)
            guard let inode = directory.entries[name] else { throw POSIXFailure(ENOENT) }
            let node = try node(inode)
            guard node.kind != .directory else { throw POSIXFailure(EISDIR) }
            directory.entries[name] = nil
            (directory.modificationSeconds, directory.modificationNanoseconds) = now()
            tree.nodes[parent] = directory
            drop(node)
            changed = true
        }
    }

    public func removeDirectory(parent: UInt64, name: [UInt8]) throws {
        try lock.withLock { _ in
            var directory = try directoryNode(parent)
            guard let inode = directory.entries[name] else { throw POSIXFailure(ENOENT) }
            let node = try node(inode)
            guard node.kind == .directory else { throw POSIXFailure(ENOTDIR) }
            guard node.entries.isEmpty else { throw POSIXFailure(ENOTEMPTY) }
            directory.entries[name] = nil
            (directory.modificationSeconds, directory.modificationNanoseconds) = now()
            tree.nodes[parent] = directory
            tree.nodes[inode] = nil
            changed = true
        }
    }

    /// rename(2), with `noReplace` for RENAME_NOREPLACE. A directory may not move into itself.
    public func rename(parent: UInt64, name: [UInt8], newParent: UInt64, newName: [UInt8], noReplace: Bool = false) throws {
        try checkName(newName)
        try lock.withLock { _ in
            let source = try directoryNode(parent)
            _ = try directoryNode(newParent)
            guard let inode = source.entries[name] else { throw POSIXFailure(ENOENT) }
            let moving = try node(inode)
            if parent == newParent, name == newName { return }
            if moving.kind == .directory {  // refuse moving a directory below itself
                var ancestor = newParent
                while true {
                    if ancestor == inode { throw POSIXFailure(EINVAL) }
                    if ancestor == Self.rootInode { break }
                    ancestor = tree.nodes[ancestor]!.parent
                }
            }
            if let existing = tree.nodes[newParent]!.entries[newName] {
                if noReplace { throw POSIXFailure(EEXIST) }
                let replaced = try node(existing)
                switch (moving.kind == .directory, replaced.kind == .directory) {
                case (true, false): throw POSIXFailure(ENOTDIR)
                case (false, true): throw POSIXFailure(EISDIR)
                case (true, true) where !replaced.entries.isEmpty: throw POSIXFailure(ENOTEMPTY)
                default: break
                }
                if replaced.kind == .directory { tree.nodes[existing] = nil } else { drop(replaced) }
            }
            let time = now()
            tree.nodes[parent]!.entries[name] = nil
            (tree.nodes[parent]!.modificationSeconds, tree.nodes[parent]!.modificationNanoseconds) = time
            tree.nodes[newParent]!.entries[newName] = inode
            (tree.nodes[newParent]!.modificationSeconds, tree.nodes[newParent]!.modificationNanoseconds) = time
            tree.nodes[inode]!.parent = newParent
            changed = true
        }
    }

    /// What `statfs` needs: node count and the host file system's block figures.
    public func statistics() throws -> (files: UInt64, blockSize: UInt64, blocks: UInt64, freeBlocks: UInt64) {
        try lock.withLock { _ in
            let host = try self.host.statistics()
            return (UInt64(tree.nodes.count), host.blockSize, host.blocks, host.free)
        }
    }

    // MARK: helpers (lock held)

    private func checkName(_ name: [UInt8]) throws {
        guard name.count <= VolumeTree.maximumNameLength else { throw POSIXFailure(ENAMETOOLONG) }
        guard VolumeTree.isValidName(name) else { throw POSIXFailure(EINVAL) }
    }

    func node(_ inode: UInt64) throws -> Node {
        guard let node = tree.nodes[inode] ?? orphans[inode] else { throw POSIXFailure(ENOENT) }
        return node
    }

    private func directoryNode(_ inode: UInt64) throws -> Node {
        let node = try node(inode)
        guard node.kind == .directory else { throw POSIXFailure(ENOTDIR) }
        return node
    }

    func fileNode(_ inode: UInt64) throws -> Node {
        let node = try node(inode)
        guard node.kind == .file else { throw POSIXFailure(node.kind == .directory ? EISDIR : EINVAL) }
        return node
    }

    private func store(_ node: Node) {
        if tree.nodes[node.inode] != nil { tree.nodes[node.inode] = node } else { orphans[node.inode] = node }
    }

    /// Removes a file or link from the tree. While it is open it stays readable as an orphan whose
    /// chunks stay live in their segments (no committed version references them: a crash
    /// collects them); otherwise its chunks die with the next commit.
    private func drop(_ node: Node) {
        tree.nodes[node.inode] = nil
        if openCounts[node.inode] != nil {
            orphans[node.inode] = node
        } else {
            obsolete += node.chunks.values
            dirty[node.inode] = nil
            inFlight[node.inode] = nil
        }
    }

    private func attributes(of node: Node) -> VolumeAttributes {
        let links: UInt32 = node.kind == .directory
            ? 2 + UInt32(node.entries.values.filter { tree.nodes[$0]?.kind == .directory }.count)
            : (tree.nodes[node.inode] == nil ? 0 : 1)
        return node.attributes(linkCount: links)
    }

    /// The plaintext of chunk `index`: dirty in memory, else read and opened, else (a hole) empty.
    /// `fetched`: the chunk as read without the lock, used if the chunk is still at that place.
    func plaintext(of node: Node, index: UInt64, fetched: FetchedChunk? = nil) throws -> [UInt8] {
        if let chunk = dirty[node.inode]?[index] ?? inFlight[node.inode]?[index] { return chunk }
        guard let reference = node.chunks[index] else { return [] }
        let place = ChunkPlace(reference)
        if let cached = chunkCache[place] { return cached }
        if let fetched, let plaintext = fetched.plaintext, ChunkPlace(fetched.reference) == place {
            remember(place, plaintext)
            return plaintext
        }
        let sealed = try host.readRange("segments/" + ChunkReference.segmentName(reference.segment), offset: reference.offset,
                                        count: reference.sealedSize)
        let plaintext = try cipher.open(sealed[...], key: try key(for: reference.session), reference: reference, fileId: node.fileId, index: index)
        remember(place, plaintext)
        return plaintext
    }

    /// Puts a decrypted chunk in the cache (FIFO).
    func remember(_ place: ChunkPlace, _ plaintext: [UInt8]) {
        guard chunkCache[place] == nil else { return }
        if chunkCacheOrder.count >= Self.chunkCacheSize { chunkCache[chunkCacheOrder.removeFirst()] = nil }
        chunkCache[place] = plaintext
        chunkCacheOrder.append(place)
    }
}

/// A chunk a write fetches and opens without the lock: what it was when the lock was released.
struct FetchedChunk {
    let reference: ChunkReference
    let key: AESGCMKey
    /// The kept descriptor of its segment (`HostDirectory.beginLockFreeRead`).
    let descriptor: Int32
    var plaintext: [UInt8]?
}
