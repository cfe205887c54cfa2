import ArcaCore
import ArcaCrypto
import ArcaFUSE
import ArcaShield

/// Reads file content for the protected root, and returns nothing unverified: authenticated
/// chunks come from the lower file and must match their SHA-256 in the index; encrypted chunks
/// come from the blob and must open under AES-GCM. Any mismatch is one log line and `EIO`.
struct ContentReader: Sendable {
    let layout: ChunkLayout
    let shield: ShieldReader?
    let cache: ChunkCache
    let log: IntegrityLog

    /// Reads `[offset, offset + out.count)` of the authenticated file `entry` (node `node`) from
    /// the open lower descriptor `fd`; returns the byte count (short only at the end of the file).
    func readAuthenticated(_ entry: IndexEntry, node: Int, fd: Int32, offset: UInt64,
                           into out: UnsafeMutableRawBufferPointer) throws -> Int {
        guard offset < entry.size, !out.isEmpty else { return 0 }
        let length = Int(min(UInt64(out.count), entry.size - offset))
        var written = 0
        for i in layout.chunks(offset: offset, length: UInt64(length), size: entry.size) {
            let chunkLength = layout.chunkLength(index: i, size: entry.size)
            let from = Int(offset + UInt64(written) - layout.chunkStart(index: i))
            let n = min(chunkLength - from, length - written)
            let destination = UnsafeMutableRawBufferPointer(rebasing: out[written..<(written + n)])
            if from == 0, n == chunkLength {
                try loadAuthenticated(entry, chunk: i, fd: fd, into: destination)  // whole chunk: no copy
            } else {
                let chunk = try cached(.file(node: node, chunk: i), length: chunkLength) {
                    try loadAuthenticated(entry, chunk: i, fd: fd, into: $0)
                }
                chunk.withUnsafeBytes { destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[from..<(from + n)])) }
            }
            written += n
        }
        return written
    }

    /// Reads `[offset, offset + out.count)` of the encrypted file `entry` out of the blob stream.
    func readEncrypted(_ entry: IndexEntry, offset: UInt64, into out: UnsafeMutableRawBufferPointer) throws -> Int {
        guard offset < entry.size, !out.isEmpty else { return 0 }
        guard let shield else {
            log.refuse(path: entry.path, chunk: nil, reason: "encrypted file but no blob reader")
            throw FUSEError.io
        }
        let stream = Int(entry.stream)
        guard stream < shield.index.streams.count else {
            log.refuse(path: entry.path, chunk: nil, reason: "stream \(stream) is not in the index")
            throw FUSEError.io
        }
        let streamSize = shield.index.streams[stream].size
        let length = Int(min(UInt64(out.count), entry.size - offset))
        let streamStart = entry.streamOffset + offset
        var written = 0
        for j in layout.chunks(offset: streamStart, length: UInt64(length), size: streamSize) {
            let from = Int(streamStart + UInt64(written) - layout.chunkStart(index: j))
            let n = min(layout.chunkSize - from, length - written)
            let destination = UnsafeMutableRawBufferPointer(rebasing: out[written..<(written + n)])
            let load = { (buffer: UnsafeMutableRawBufferPointer) throws in
                do {
                    try shield.readBlobChunk(stream: stream, j, into: buffer)
                } catch let error as ArcaError {
                    let fileChunk = (max(self.layout.chunkStart(index: j), entry.streamOffset) - entry.streamOffset) / UInt64(self.layout.chunkSize)
                    self.log.refuse(path: entry.path, chunk: fileChunk, reason: "stream \(stream) blob chunk \(j): \(error.message)")
                    throw FUSEError.io
                }
            }
            if from == 0, n == layout.chunkSize {
                try load(destination)
            } else {
                let chunk = try cached(.blob(stream: stream, chunk: j), length: layout.chunkSize, load: load)
                chunk.withUnsafeBytes { destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[from..<(from + n)])) }
            }
            written += n
        }
        return written
    }

    /// Chunk `i` of an authenticated file, read from the lower file and checked: exactly the
    /// length the index implies, and its SHA-256.
    private func loadAuthenticated(_ entry: IndexEntry, chunk i: UInt64, fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws {
        let got: Int
        do {
            got = try preadFully(fd, buffer, at: layout.chunkStart(index: i), path: entry.path)
        } catch let error as ArcaError {
            log.refuse(path: entry.path, chunk: i, reason: error.message)
            throw FUSEError.io
        }
        guard got == buffer.count else {
            log.refuse(path: entry.path, chunk: i, reason: "the lower file holds \(got) of the chunk's \(buffer.count) bytes (truncated on disk)")
            throw FUSEError.io
        }
        guard ChunkHasher.digest(UnsafeRawBufferPointer(buffer)).constantTimeEquals(entry.chunkDigests[Int(i)]) else {
            log.refuse(path: entry.path, chunk: i, reason: "SHA-256 differs from the index (changed on disk)")
            throw FUSEError.io
        }
    }

    /// The cached chunk under `key`, or a fresh one filled by `load` and cached after it succeeded.
    private func cached(_ key: ChunkCache.Key, length: Int,
                        load: (UnsafeMutableRawBufferPointer) throws -> Void) throws -> [UInt8] {
        if let hit = cache.get(key) { return hit }
        let bytes = try [UInt8](unsafeUninitializedCapacity: length) { buffer, count in
            try load(UnsafeMutableRawBufferPointer(buffer))
            count = length
        }
        cache.put(key, bytes)
        return bytes
    }
}
