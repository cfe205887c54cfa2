import ArcaArchive
import ArcaCore
import ArcaCrypto
import ArcaMeasurement
import ArcaOCI
import ArcaShield

/// Pass one: reads a layer once (verifying blob digest and diff_id) and makes everything the
/// seal needs from it: the entry log, the chunk digests of authenticated files, the layer's
/// stream (its encrypted regular files, in tar order) sealed into a blob layer, and — when the
/// layer holds encrypted paths — the layer rewritten without them, in the same read.
///
/// The rewrite starts at the first entry in an encrypted region, replaying the entries before
/// it from the log; that works when none of them carried bytes (the usual case: a layer that
/// adds a tree). Otherwise `rewritten` stays nil and pass two reads the layer again.
struct LayerProcessor {
    let policy: ProtectionPolicy
    let scanner: LayerScanner
    let chunkLayout: ChunkLayout
    let masterKey: MasterKey
    let compressionLevel: Int32
    let clampTime: Int64?
    let parallelism: Int
    let blobLayerMediaType: String

    /// Processes layer `index` into `directory` (artifacts `blob.tar` when `keepBlobLayer`,
    /// `rewritten.tar.gz`); the blob layer goes straight into `destination` as it is sealed.
    /// Encrypted plaintext is set aside in `plaintextPath` (0600) and removed before returning.
    func process(_ index: Int, of image: ResolvedImage, from source: any ImageSource, into directory: String,
                 plaintextPath: String, destination: any ImageDestination, keepBlobLayer: Bool) throws -> LayerRecord {
        var record = LayerRecord()
        var streamSize: UInt64 = 0
        var plaintext: FileSink?
        defer { try? FileSystem.removeTree(plaintextPath) }
        var rewrite: Rewrite?
        var rewriteBlocked = false
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkLayout.chunkSize, alignment: 16)
        defer { chunk.deallocate() }

        _ = try scanner.scan(index, of: image, from: source) { reader in
            while let entry = try reader.next() {
                record.entries.append((entry, reader.dataOffset))
                let encrypted = isEncrypted(entry)
                if encrypted, !record.touchesEncrypted {
                    record.touchesEncrypted = true
                    if !rewriteBlocked {
                        let started = try Rewrite(path: directory + "/rewritten.tar.gz", level: compressionLevel, clampTime: clampTime)
                        for (earlier, _) in record.entries.dropLast() {
                            try started.writer.append(earlier, content: earlier.type == .regular ? MemorySource([]) : nil)
                        }
                        rewrite = started
                    }
                }
                if entry.type == .regular, entry.size > 0, !record.touchesEncrypted, !encrypted { rewriteBlocked = true }
                if encrypted {
                    guard entry.type == .regular, policy.classify(absolute(entry.path)) == .encrypted else { continue }
                    if plaintext == nil { plaintext = try FileSink(path: plaintextPath, permissions: [.ownerReadWrite], exclusive: true) }
                    record.streamOffsets[reader.dataOffset] = streamSize
                    let copied = try reader.contentSource().copy(to: plaintext!)
                    guard copied == entry.size else { throw ArcaError(.invalidFormat, "\(entry.path) ends before its size \(entry.size)") }
                    streamSize += UInt64(entry.size)
                    continue
                }
                guard entry.type == .regular else {
                    try rewrite?.writer.append(entry, content: nil)
                    continue
                }
                // Authenticated bytes: hashed per chunk, and copied into the rewrite if there is one.
                let hashing = ChunkDigestSource(reader.contentSource(), layout: chunkLayout, buffer: chunk)
                if let rewrite {
                    try rewrite.writer.append(entry, content: hashing)
                } else {
                    try hashing.drain()
                }
                record.digests[reader.dataOffset] = try hashing.finish(size: entry.size, path: entry.path)
            }
        }
        if let rewrite { record.rewritten = try rewrite.finish() }
        if streamSize > 0, let plaintext {
            try plaintext.finish()
            let content = try FileBytes(path: plaintextPath)
            let sealer = try StreamSealer.hashing(content, size: streamSize, masterKey: masterKey, layout: chunkLayout, parallelism: parallelism)
            record.stream = sealer.info
            record.blobLayer = try writeBlobLayer(sealer, content: content, to: keepBlobLayer ? directory + "/blob.tar" : nil,
                                                  destination: destination)
        }
        return record
    }

    /// True when the entry, or what it whites out, is in an encrypted region.
    func isEncrypted(_ entry: TarEntry) -> Bool {
        policy.classify(absolute(entry.path)) == .encrypted || policy.classify(absolute(whiteoutTarget(entry.path))) == .encrypted
    }

    /// The blob layer: an uncompressed tar of `.arca/shield/blobs/<streamId>` (and its parent
    /// directories), with fixed times, so equal streams give equal layers. Written into the
    /// destination as it is sealed, and into `path` too (for the cache) when given.
    private func writeBlobLayer(_ sealer: StreamSealer, content: FileBytes, to path: String?,
                                destination: any ImageDestination) throws -> LayerArtifact {
        let descriptor = try destination.putBlob(mediaType: blobLayerMediaType) { sink in
            let copy = try path.map { try FileSink(path: $0, permissions: [.ownerReadWrite], exclusive: true) }
            let target: any ByteSink = copy.map { TeeSink(sink, $0) as any ByteSink } ?? sink
            let writer = TarWriter(sink: target)
            for directory in [".arca", ".arca/shield", SealedLayout.blobDirectory] {
                try writer.append(TarEntry(path: directory, type: .directory, mode: 0o755), content: nil)
            }
            let blob = TarEntry(path: SealedLayout.blobPath(streamIdHex: sealer.streamId.hex), type: .regular, mode: 0o644,
                                size: Int64(sealer.blobSize))
            try writer.append(blob, content: SealedBlobSource(sealer: sealer, content: content, parallelism: parallelism))
            try writer.finish()
        }
        return LayerArtifact(digest: descriptor.digest, size: descriptor.size, diffID: descriptor.digest)
    }
}

/// Writes everything to two sinks.
private final class TeeSink: ByteSink {
    private let first: any ByteSink
    private let second: any ByteSink
    init(_ first: any ByteSink, _ second: any ByteSink) {
        self.first = first
        self.second = second
    }
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try first.write(bytes)
        try second.write(bytes)
    }
    func finish() throws {
        try first.finish()
        try second.finish()
    }
}

/// A gzip-compressed tar being written to a file, with its diff_id and digest.
private final class Rewrite {
    let writer: TarWriter
    private let plain: HashingSink
    private let compressed: HashingSink

    init(path: String, level: Int32, clampTime: Int64?) throws {
        compressed = HashingSink(try FileSink(path: path, permissions: [.ownerReadWrite], exclusive: true))
        plain = HashingSink(LayerCompression.gzip.compressing(compressed, level: level))
        writer = TarWriter(sink: plain, options: TarWriterOptions(clampModificationTime: clampTime))
    }

    func finish() throws -> LayerArtifact {
        try writer.finish()
        try plain.finish()
        return LayerArtifact(digest: Digest(sha256Hex: compressed.hexDigest()), size: compressed.count,
                             diffID: Digest(sha256Hex: plain.hexDigest()))
    }
}

/// Passes a file's bytes through while recording the SHA-256 of each chunk.
final class ChunkDigestSource: ByteSource {
    private let inner: any ByteSource
    private let layout: ChunkLayout
    private let chunk: UnsafeMutableRawBufferPointer
    private var filled = 0
    private var total: Int64 = 0
    private(set) var digests: [Hash256] = []

    init(_ inner: any ByteSource, layout: ChunkLayout, buffer: UnsafeMutableRawBufferPointer) {
        self.inner = inner
        self.layout = layout
        self.chunk = buffer
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try inner.read(into: buffer)
        var taken = 0
        while taken < n {
            let m = min(n - taken, layout.chunkSize - filled)
            UnsafeMutableRawBufferPointer(rebasing: chunk[filled..<(filled + m)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[taken..<(taken + m)]))
            filled += m
            taken += m
            if filled == layout.chunkSize {
                digests.append(ChunkHasher.digest(UnsafeRawBufferPointer(chunk)))
                filled = 0
            }
        }
        total += Int64(n)
        return n
    }

    /// The digests, once all `size` bytes went through.
    func finish(size: Int64, path: String) throws -> [Hash256] {
        guard total == size else { throw ArcaError(.invalidFormat, "\(path) holds \(total) bytes, not its size \(size)") }
        if filled > 0 {
            digests.append(ChunkHasher.digest(UnsafeRawBufferPointer(rebasing: chunk[..<filled])))
            filled = 0
        }
        return digests
    }
}

/// `a/b` → `/a/b`; the tar root `.` → `/`.
func absolute(_ tarPath: String) -> String {
    tarPath == "." || tarPath.isEmpty ? "/" : "/" + tarPath
}

/// For a whiteout `dir/.wh.name`, the path it removes (`dir/name`); for an opaque marker, its directory.
func whiteoutTarget(_ tarPath: String) -> String {
    let parent = ArchivePath.parent(tarPath)
    switch (try? Whiteout.classify(baseName: ArchivePath.baseName(tarPath), path: tarPath)) ?? Whiteout.none {
    case .remove(let name): return ArchivePath.join(parent, name)
    case .opaque: return parent
    default: return tarPath
    }
}
