import ArcaCore
import ArcaCrypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `Volume.read`: the lock is held only to plan the read; fetching and opening run outside it.
extension Volume {
    /// At most this many sealed bytes are fetched with one `pread` and opened one after another
    /// (a sequential reader's requests are 1 MiB: 16 batches).
    static let readBatchBytes = 64 << 10

    /// Reads up to `buffer.count` bytes at `offset`; returns the count (short only at the end).
    public func read(inode: UInt64, offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try read(inode: inode, offset: offset, count: buffer.count) { pieces in
            var at = 0
            for piece in pieces {
                UnsafeMutableRawBufferPointer(rebasing: buffer[at..<at + piece.count]).copyMemory(from: piece)
                at += piece.count
            }
            return at
        }
    }

    /// Reads up to `count` bytes at `offset` and hands them to `body` as pieces of memory in file
    /// order (together short only at the end; none at or past the end), valid only inside `body`:
    /// a FUSE reply sends them as they are, without copying them into one buffer first.
    ///
    /// Under the lock it only finds what each chunk is: plaintext at hand (dirty, cached, a hole)
    /// or a sealed chunk to fetch, with the kept descriptor of its segment (not closed before the
    /// read ends, so a commit that removes the segment meanwhile cannot take the bytes away;
    /// places are never rewritten). Outside the lock, runs of chunks that lie back to back in one
    /// segment (a sequentially written file) are fetched with one `pread` each, and every chunk is
    /// opened (authenticated) before `body` sees a byte of the read.
    public func read<Result>(inode: UInt64, offset: UInt64, count: Int,
                             _ body: ([UnsafeRawBufferPointer]) throws -> Result) throws -> Result {
        let plan = try lock.withLock { _ in try readPlan(inode: inode, offset: offset, count: count) }
        defer {
            if !plan.descriptors.isEmpty {
                lock.withLock { _ in for _ in plan.descriptors { host.endLockFreeRead() } }
            }
        }
        guard plan.end > offset else { return try body([]) }
        var sealed: [SealedPiece] = []
        var pieces: [ReadPiece] = []
        var position = offset
        for part in plan.parts {
            let base = part.index * UInt64(chunkSize)
            let within = Int(position - base)
            let count = Int(min(plan.end, base + UInt64(chunkSize)) - position)
            switch part.source {
            case .plaintext(let bytes):
                pieces.append(ReadPiece(within: within, count: count, source: .plaintext(bytes)))
            case .sealed(let reference, let key):
                pieces.append(ReadPiece(within: within, count: count, source: .opened(sealed.count)))
                sealed.append(SealedPiece(index: part.index, reference: reference, key: key))
            }
            position += UInt64(count)
        }
        // The sealed chunks are fetched into one buffer and opened where they lie; the reply is
        // sent from there.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: sealed.reduce(0) { $0 + $1.reference.sealedSize }, alignment: 16)
        defer { buffer.deallocate() }
        var openedAt: [Int] = []
        if !sealed.isEmpty { openedAt = try fetch(sealed, plan: plan, into: buffer) }
        var memory: [UnsafeRawBufferPointer] = []
        memory.reserveCapacity(pieces.count + 2)
        return try Self.assemble(pieces[...], opened: { index in
            UnsafeRawBufferPointer(rebasing: buffer[openedAt[index]..<openedAt[index] + Int(sealed[index].reference.length)])
        }, into: &memory, body)
    }

    /// Calls `body` with the memory of `pieces` appended to `memory`: one nested `withUnsafeBytes`
    /// per plaintext piece, so each pointer is used only while its owner lends it; `opened(i)` is
    /// the plaintext of the i-th sealed piece.
    private static func assemble<Result>(_ pieces: ArraySlice<ReadPiece>, opened: (Int) -> UnsafeRawBufferPointer,
                                         into memory: inout [UnsafeRawBufferPointer],
                                         _ body: ([UnsafeRawBufferPointer]) throws -> Result) throws -> Result {
        var rest = pieces
        while let piece = rest.first {
            func add(_ chunk: UnsafeRawBufferPointer, _ memory: inout [UnsafeRawBufferPointer]) {
                let available = piece.within < chunk.count ? min(piece.count, chunk.count - piece.within) : 0
                if available > 0 { memory.append(UnsafeRawBufferPointer(rebasing: chunk[piece.within..<piece.within + available])) }
                if available < piece.count {  // a hole or the zero-filled tail of a short chunk
                    memory.append(UnsafeRawBufferPointer(rebasing: zeroChunk[..<(piece.count - available)]))
                }
            }
            rest = rest.dropFirst()
            switch piece.source {
            case .opened(let index):
                add(opened(index), &memory)
            case .plaintext(let bytes):
                return try bytes.withUnsafeBytes {
                    add($0, &memory)
                    return try assemble(rest, opened: opened, into: &memory, body)
                }
            }
        }
        return try body(memory)
    }

    /// Fetches the sealed pieces (in file order) into `buffer`, back to back, and opens each where
    /// it lies; returns where each one's plaintext starts. Fetched in batches: runs of pieces
    /// that lie back to back in one segment (one `pread` each), cut at `readBatchBytes`. Throws
    /// the first failing batch's error.
    private func fetch(_ pieces: [SealedPiece], plan: ReadPlan, into buffer: UnsafeMutableRawBufferPointer) throws -> [Int] {
        var openedAt: [Int] = []
        openedAt.reserveCapacity(pieces.count)
        var start = 0
        var at = 0
        while start < pieces.count {
            let first = pieces[start].reference
            var end = start + 1
            var size = first.sealedSize
            while end < pieces.count, size < Self.readBatchBytes, pieces[end].reference.segment == first.segment,
                  pieces[end].reference.offset >= first.offset, pieces[end].reference.offset - first.offset == UInt64(size) {
                size += pieces[end].reference.sealedSize
                end += 1
            }
            // One thread: several 1 MiB readahead requests in flight already keep both cores busy
            // (a helper thread sharing a request's batches measured neutral, and was dropped).
            try HostDirectory.readRange(plan.descriptors[first.segment]!, offset: first.offset,
                                        into: UnsafeMutableRawBufferPointer(rebasing: buffer[at..<at + size]),
                                        what: "\(host.path)/segments/\(ChunkReference.segmentName(first.segment))")
            for piece in pieces[start..<end] {
                let sealed = UnsafeMutableRawBufferPointer(rebasing: buffer[at..<at + piece.reference.sealedSize])
                _ = try cipher.open(inPlace: sealed, key: piece.key, reference: piece.reference, fileId: plan.fileId, index: piece.index)
                openedAt.append(at)
                at += piece.reference.sealedSize
            }
            start = end
        }
        return openedAt
    }

    /// What `read` needs of each chunk in range (lock held).
    private func readPlan(inode: UInt64, offset: UInt64, count: Int) throws -> ReadPlan {
        let node = try fileNode(inode)
        var plan = ReadPlan(fileId: node.fileId, end: min(node.size, offset + UInt64(count)))
        guard offset < plan.end else { return plan }
        do {
            var index = offset / UInt64(chunkSize)
            while index * UInt64(chunkSize) < plan.end {
                if let chunk = dirty[inode]?[index] ?? inFlight[inode]?[index] {
                    plan.parts.append((index, .plaintext(chunk)))
                } else if let reference = node.chunks[index] {
                    if let cached = chunkCache[ChunkPlace(reference)] {
                        plan.parts.append((index, .plaintext(cached)))
                    } else {
                        if plan.descriptors[reference.segment] == nil {
                            plan.descriptors[reference.segment] = try host.beginLockFreeRead("segments/" + ChunkReference.segmentName(reference.segment))
                        }
                        plan.parts.append((index, .sealed(reference, try key(for: reference.session))))
                    }
                } else {
                    plan.parts.append((index, .plaintext([])))
                }
                index += 1
            }
        } catch {
            for _ in plan.descriptors { host.endLockFreeRead() }
            throw error
        }
        return plan
    }
}

/// One chunk's part of a read: bytes `within ..< within + count` of its plaintext (which may be
/// shorter than the chunk: the rest, like a hole, reads as zeros).
struct ReadPiece {
    enum Source {
        case plaintext([UInt8])
        /// The index of the opened chunk among the read's sealed ones.
        case opened(Int)
    }
    let within: Int
    let count: Int
    let source: Source
}

/// A sealed chunk a read fetches and opens outside the lock.
struct SealedPiece {
    let index: UInt64
    let reference: ChunkReference
    let key: AESGCMKey
}

/// Zeros for holes and the tails of short chunks (as long as the largest chunk size); never
/// written after its initialization, never freed.
nonisolated(unsafe) private let zeroChunk = UnsafeRawBufferPointer(
    UnsafeMutableRawBufferPointer.allocate(byteCount: Volume.allowedChunkSizes.max()!, alignment: 16)
        .initializeMemory(as: UInt8.self, repeating: 0))

/// What `Volume.read` fetches outside the lock.
struct ReadPlan {
    enum Source {
        case plaintext([UInt8])
        case sealed(ChunkReference, AESGCMKey)
    }
    let fileId: [UInt8]
    let end: UInt64
    var parts: [(index: UInt64, source: Source)] = []
    /// The kept descriptor of each segment to fetch from (`HostDirectory.beginLockFreeRead`).
    var descriptors: [UInt64: Int32] = [:]

    init(fileId: [UInt8], end: UInt64) {
        self.fileId = fileId
        self.end = end
    }
}
