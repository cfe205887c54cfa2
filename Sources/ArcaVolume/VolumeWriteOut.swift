import ArcaCore
import ArcaCrypto

/// Writing dirty chunks out as a segment with the volume lock released (double buffering).
///
/// A write-out has three steps: `prepareWriteOut` (lock held) moves the dirty chunks into
/// `inFlight` and reserves the segment number and the nonce counters; `performWriteOut` (no
/// lock) seals them and writes the segment; `finishWriteOut` (lock held) points the tree at the
/// new places. Meanwhile writes go on into a fresh dirty set, and reads and read-modify-writes
/// find the chunks being written in `inFlight`. `flushLock` (always taken before `lock`) lets one
/// write-out or commit run at a time, so the version (the chunks' additional data) cannot change
/// under a write-out, and `sealBuffer` has one user.
extension Volume {
    /// A write-out writes its sealed chunks in pieces of about this size (`performWriteOut`).
    static let writePiece = 256 << 10

    /// One write-out: what `performWriteOut` seals and where it goes.
    struct WriteOut {
        var items: [(inode: UInt64, index: UInt64, fileId: [UInt8], plaintext: [UInt8])]
        let segment: UInt64
        let first: UInt64
        let key: AESGCMKey
        let session: [UInt8]
        let writeVersion: UInt64
    }

    /// Writes the dirty chunks out (when `onlyAboveLimit`, only if they pass `dirtyLimit`), with
    /// the lock released while sealing and writing. The caller holds `flushLock`, not `lock`.
    func writeOutUnlocked(onlyAboveLimit: Bool) throws {
        let prepared = try lock.withLock { _ -> WriteOut? in
            guard !closed else { return nil }  // the commit that follows reports it
            if onlyAboveLimit && dirtyBytes <= Self.dirtyLimit { return nil }
            return try prepareWriteOut()
        }
        guard let job = prepared else { return }
        let placed: [ChunkReference]
        do {
            try writeOutHook?()
            placed = try performWriteOut(job)
        } catch {
            lock.withLock { _ in abortWriteOut(job) }
            throw error
        }
        lock.withLock { _ in finishWriteOut(job, placed: placed) }
    }

    /// Moves the dirty chunks of files in the tree into `inFlight` (lock held); applies chunks that
    /// became holes at once. Nil when nothing is to be sealed.
    func prepareWriteOut() throws -> WriteOut? {
        var items: [(inode: UInt64, index: UInt64, fileId: [UInt8], plaintext: [UInt8])] = []
        for (inode, chunks) in dirty where tree.nodes[inode] != nil {  // an orphan's dirty data stays in memory
            let fileId = tree.nodes[inode]!.fileId
            for (index, plaintext) in chunks {
                if plaintext.isEmpty {
                    if let old = tree.nodes[inode]!.chunks[index] { obsolete.append(old) }
                    tree.nodes[inode]!.chunks[index] = nil
                } else {
                    items.append((inode, index, fileId, plaintext))
                    inFlight[inode, default: [:]][index] = plaintext
                }
            }
        }
        dirty = dirty.filter { orphans[$0.key] != nil }  // unlinked-but-open files keep theirs in memory
        dirtyBytes = dirty.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.count } }
        guard !items.isEmpty else { return nil }
        // File order (dictionaries iterate in no order): a file written sequentially lies back to
        // back in its segment, and a sequential read fetches a run of its chunks with one pread.
        items.sort { $0.inode != $1.inode ? $0.inode < $1.inode : $0.index < $1.index }
        if counter + UInt64(items.count) > ChunkCipher.sessionLimit {
            session = randomBytes(16)
            sessionKey = try keys.chunkCipherKey(session: session)
            counter = 0
        }
        let first = counter
        counter += UInt64(items.count)  // never reused, even if this write-out fails
        let segment = tree.nextSegment
        tree.nextSegment += 1  // never reused within the process, even if this write-out fails
        return WriteOut(items: items, segment: segment, first: first, key: sessionKey, session: session,
                        writeVersion: currentVersion + 1)
    }

    /// Seals the job's chunks into `sealBuffer` and writes them as its segment file, two threads
    /// each doing one half (each chunk's place follows from the sizes before it). No lock needed:
    /// the job owns its plaintexts, and `flushLock` (held) guards `sealBuffer`.
    func performWriteOut(_ job: WriteOut) throws -> [ChunkReference] {
        let items = job.items
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
        if sealBuffer.count < total {
            sealBuffer.deallocate()
            sealBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: total, alignment: 64)
        }
        let buffer = sealBuffer
        let writer = try HostDirectory.FileWriter(host, "segments/" + ChunkReference.segmentName(job.segment))
        defer { writer.close() }
        let cipher = cipher
        let placed = try Parallel.map(halves.count, width: 2) { half -> [ChunkReference] in
            var references: [ChunkReference] = []
            // Written in pieces as they are sealed, while still in the CPU's cache: one 4 MiB
            // pwrite per half after sealing it took 10–50 ms (the halves wait for each other on
            // the file's lock and copy cold memory), most of a write-out (measured with uprobes).
            var unwritten = offsets[halves[half].lowerBound]
            for k in halves[half] {
                let item = items[k]
                var reference = try cipher.seal(item.plaintext, key: job.key, session: job.session, counter: job.first + UInt64(k),
                                                fileId: item.fileId, index: item.index, writeVersion: job.writeVersion,
                                                into: UnsafeMutableRawBufferPointer(rebasing: buffer[offsets[k]..<offsets[k + 1]]))
                reference.segment = job.segment
                reference.offset = UInt64(offsets[k])
                references.append(reference)
                if offsets[k + 1] - unwritten >= Self.writePiece || k + 1 == halves[half].upperBound {
                    try writer.write(UnsafeRawBufferPointer(rebasing: buffer[unwritten..<offsets[k + 1]]), at: unwritten)
                    unwritten = offsets[k + 1]
                }
            }
            return references
        }.flatMap { $0 }
        writer.startWriteback()
        return placed
    }

    /// Points the tree at the written chunks (lock held). A chunk whose file was truncated below it
    /// or deleted meanwhile (no longer in `inFlight`) is dead at once; one whose file became an
    /// orphan goes to the orphan. A chunk rewritten meanwhile is still placed: the newer dirty
    /// plaintext overrides it until the next write-out.
    func finishWriteOut(_ job: WriteOut, placed: [ChunkReference]) {
        let total = placed.reduce(0) { $0 + $1.sealedSize }
        unsynced.append(job.segment)
        segments[job.segment] = SegmentUse(size: total, live: total)
        for (k, item) in job.items.enumerated() {
            let reference = placed[k]
            guard inFlight[item.inode]?[item.index] != nil else {
                obsolete.append(reference)
                continue
            }
            if tree.nodes[item.inode] != nil {
                if let old = tree.nodes[item.inode]!.chunks[item.index] { obsolete.append(old) }
                tree.nodes[item.inode]!.chunks[item.index] = reference
            } else if orphans[item.inode] != nil {
                if let old = orphans[item.inode]!.chunks[item.index] { obsolete.append(old) }
                orphans[item.inode]!.chunks[item.index] = reference
            } else {
                obsolete.append(reference)
            }
        }
        inFlight.removeAll()
    }

    /// A failed write-out (lock held): its chunks go back to the dirty set unless rewritten,
    /// truncated away or deleted meanwhile; its partial segment file is removed.
    func abortWriteOut(_ job: WriteOut) {
        for item in job.items {
            guard let plaintext = inFlight[item.inode]?[item.index], dirty[item.inode]?[item.index] == nil,
                  tree.nodes[item.inode] != nil || orphans[item.inode] != nil else { continue }
            dirty[item.inode, default: [:]][item.index] = plaintext
        }
        dirtyBytes = dirty.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.count } }
        inFlight.removeAll()
        host.remove("segments/" + ChunkReference.segmentName(job.segment))
    }
}
