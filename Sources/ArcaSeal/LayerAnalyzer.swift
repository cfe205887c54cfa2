import ArcaArchive
import ArcaCore
import ArcaCrypto
import ArcaOCI

/// Where a regular file's bytes sit in the native image: layer and offset in its uncompressed tar.
struct ContentKey: Hashable, Sendable {
    var layer: Int
    var offset: Int64
}

/// What the first pass learned about one layer.
struct LayerAnalysis: Sendable {
    /// Every entry with its data offset, in stream order (to rebuild the merged tree).
    var entries: [(entry: TarEntry, dataOffset: Int64)]
    /// Chunk digests of the layer's authenticated regular files, by where their bytes are.
    var digests: [ContentKey: [Hash256]]
    /// Files holding the plaintext of the layer's encrypted regular files (0600, in the work dir).
    var spills: [ContentKey: String]
    /// True when an entry or whiteout of the layer lies in an encrypted region: the layer must be rewritten.
    var touchesEncrypted: Bool
    var facts: LayerFacts?
}

/// Pass one: read a layer once (verifying blob and diff_id), log its entries, hash the chunks of
/// authenticated files and set aside the plaintext of encrypted ones.
struct LayerAnalyzer {
    let policy: ProtectionPolicy
    let scanner: LayerScanner
    let chunkLayout: ChunkLayout
    let workDirectory: String

    func analyze(_ index: Int, of image: ResolvedImage, from source: any ImageSource) throws -> LayerAnalysis {
        var analysis = LayerAnalysis(entries: [], digests: [:], spills: [:], touchesEncrypted: false, facts: nil)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkLayout.chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        analysis.facts = try scanner.scan(index, of: image, from: source) { reader in
            while let entry = try reader.next() {
                analysis.entries.append((entry, reader.dataOffset))
                if isEncrypted(entry) { analysis.touchesEncrypted = true }
                guard entry.type == .regular else { continue }
                let key = ContentKey(layer: index, offset: reader.dataOffset)
                if policy.classify(absolute(entry.path)) == .encrypted {
                    let path = "\(workDirectory)/plain-\(index)-\(reader.dataOffset)"
                    let sink = try FileSink(path: path, permissions: [.ownerReadWrite], exclusive: true)
                    try reader.contentSource().copy(to: sink)
                    try sink.finish()
                    analysis.spills[key] = path
                } else {
                    analysis.digests[key] = try chunkDigests(of: reader.contentSource(), size: entry.size, buffer: buffer, path: entry.path)
                }
            }
        }
        return analysis
    }

    /// True when the entry, or what it whites out, is in an encrypted region.
    func isEncrypted(_ entry: TarEntry) -> Bool {
        policy.classify(absolute(entry.path)) == .encrypted || policy.classify(absolute(whiteoutTarget(entry.path))) == .encrypted
    }

    private func chunkDigests(of content: any ByteSource, size: Int64, buffer: UnsafeMutableRawBufferPointer, path: String) throws -> [Hash256] {
        var digests: [Hash256] = []
        let count = chunkLayout.chunkCount(size: UInt64(size))
        for index in 0..<count {
            let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[..<chunkLayout.chunkLength(index: index, size: UInt64(size))])
            guard try content.readFully(into: slice) == slice.count else {
                throw ArcaError(.invalidFormat, "\(path) ends before its size \(size)")
            }
            digests.append(ChunkHasher.digest(UnsafeRawBufferPointer(slice)))
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
