import ArcaMeasurement
import ArcaArchive
import ArcaCore
import ArcaCrypto
import ArcaOCI
import ArcaShield

/// A sealed image read back: its measured config, shield index and (optionally) blob, checked
/// against each other and against the image's layers.
public struct SealedImage: Sendable {
    public var config: MeasuredConfig
    public var measurement: String
    public var indexBytes: [UInt8]
    /// The image without its shield layer (what the container runtime unpacks as the lower tree).
    public var lowerImage: ResolvedImage
}

/// `arca measure` and `arca verify`: recompute the measurement from the image alone, and check
/// every chunk against the index.
public struct SealedImageReader {
    public var scanner: LayerScanner

    public init(scanner: LayerScanner = LayerScanner()) {
        self.scanner = scanner
    }

    /// Reads the shield layer (the last one), checks that the measured config names exactly this
    /// image's runtime layer, layers and index, and computes the measurement.
    /// `blobTo`: where to store the encrypted blob, when the caller will verify it.
    public func read(_ image: ResolvedImage, from source: any ImageSource, blobTo blobPath: String? = nil) throws -> SealedImage {
        let count = image.layers.count
        guard count >= 2 else {
            throw ArcaError(.invalidFormat, "\(source.name) is not a sealed image: it has \(count) layer(s), no runtime and shield layers")
        }
        var configBytes: [UInt8]?
        var indexBytes: [UInt8]?
        _ = try scanner.scan(count - 1, of: image, from: source) { reader in
            while let entry = try reader.next() {
                switch entry.path {
                case SealedLayout.measuredConfigPath:
                    configBytes = try reader.contentSource().readAll(limit: 1 << 20, what: entry.path)
                case SealedLayout.indexPath:
                    indexBytes = try reader.contentSource().readAll(limit: ShieldFormat.maximumIndexSize, what: entry.path)
                case SealedLayout.blobPath:
                    if let blobPath {
                        let sink = try FileSink(path: blobPath, permissions: [.ownerReadWrite])
                        try reader.contentSource().copy(to: sink)
                        try sink.finish()
                    }
                default: continue
                }
            }
        }
        guard let configBytes, let indexBytes else {
            throw ArcaError(.invalidFormat, "\(source.name) is not a sealed image: its last layer has no /\(SealedLayout.measuredConfigPath) and /\(SealedLayout.indexPath)")
        }
        let config = try MeasuredConfig.parse(configBytes, source: "/\(SealedLayout.measuredConfigPath)")
        let diffIDs = image.diffIDs
        guard config.runtime == diffIDs[count - 2].description else {
            throw ArcaError(.integrity, "the runtime layer is \(diffIDs[count - 2]) but the measured config names \(config.runtime)")
        }
        guard config.layers == diffIDs[..<(count - 2)].map(\.description) else {
            let first = zip(config.layers, diffIDs.map(\.description)).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            throw ArcaError(.integrity, "the image's layers differ from those the measured config names"
                + (first.map { " (layer \($0 + 1) first)" } ?? " (the layer count differs)"))
        }
        let root = sha256Hex(indexBytes)
        guard config.shieldRoots == [root] else {
            throw ArcaError(.integrity, "shield index root is \(root), but the measured config names \(config.shieldRoots.joined(separator: ", "))")
        }
        let measurement = try config.measurement()
        if let label = image.manifest.annotations?[SealedLayout.measurementLabel] ?? image.config.config?.labels?[SealedLayout.measurementLabel],
           label != measurement {
            throw ArcaError(.integrity, "the image is labelled with measurement \(label), but its content measures \(measurement)")
        }
        var lower = image
        lower.manifest.layers.removeLast()
        lower.config.rootfs.diffIDs.removeLast()
        return SealedImage(config: config, measurement: measurement, indexBytes: indexBytes, lowerImage: lower)
    }

    /// Checks every authenticated chunk against the files of the unpacked layers and, given the
    /// master key, decrypts every encrypted chunk. Throws naming the first bad file and chunk.
    public func verify(_ image: ResolvedImage, from source: any ImageSource, masterKey: MasterKey?) throws -> (SealedImage, VerifyReport) {
        let work = try FileSystem.makeTemporaryDirectory(prefix: "arca-verify")
        defer { try? FileSystem.removeTree(work) }
        let blobPath = work + "/blob"
        let sealed = try read(image, from: source, blobTo: masterKey == nil ? nil : blobPath)
        let rootfs = work + "/rootfs"
        try FileSystem.makeDirectories(rootfs)
        _ = try scanner.extract(sealed.lowerImage, from: source, into: rootfs)
        guard let root = Hash256(hex: sealed.config.shieldRoots[0]) else {
            throw ArcaError(.invalidFormat, "shield root \(sealed.config.shieldRoots[0]) is not 64 hex digits")
        }
        let index = try ShieldIndex.parse(sealed.indexBytes, expectedRoot: root, masterKey: masterKey)
        let open = { (entry: IndexEntry) -> any RandomAccessBytes in
            FileBytes(adopting: try FileSystem.openBeneath(rootfs, entry.path), path: entry.path)
        }
        guard let masterKey else {
            return (sealed, try verifyAuthenticated(index.publicEntries, open: open, chunkSize: Int(index.layout.chunkSize)))
        }
        let blob: (any RandomAccessBytes)? = FileSystem.exists(blobPath) ? try FileBytes(path: blobPath) : nil
        let report = try ShieldReader(index: index, masterKey: masterKey, blob: blob).verify(authenticatedContent: open)
        return (sealed, report)
    }

    /// Without the key only the authenticated entries can be checked: each chunk of each file
    /// against its SHA-256 in the index, and no byte past the recorded size.
    private func verifyAuthenticated(_ entries: [IndexEntry], open: (IndexEntry) throws -> any RandomAccessBytes,
                                     chunkSize: Int) throws -> VerifyReport {
        var report = VerifyReport()
        let layout = try ChunkLayout(chunkSize: chunkSize)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        for entry in entries {
            report.entries += 1
            guard entry.type == .regular else { continue }
            let content = try open(entry)
            for (chunk, expected) in entry.chunkDigests.enumerated() {
                let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[..<layout.chunkLength(index: UInt64(chunk), size: entry.size)])
                try content.readExactly(at: layout.chunkStart(index: UInt64(chunk)), into: slice, what: "\(entry.path) chunk \(chunk)")
                guard ChunkHasher.digest(UnsafeRawBufferPointer(slice)) == expected else {
                    throw ArcaError(.integrity, "\(entry.path): chunk \(chunk) does not match its SHA-256 in the index")
                }
                report.authenticatedChunks += 1
            }
            var probe: UInt8 = 0
            guard try withUnsafeMutableBytes(of: &probe, { try content.read(at: entry.size, into: $0) }) == 0 else {
                throw ArcaError(.integrity, "\(entry.path) is longer than the \(entry.size) bytes in the index")
            }
        }
        return report
    }
}
