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
    /// image's layers, runtime layer and index, that the blob layers between the runtime and the
    /// shield layer are one per stream of the index, and computes the measurement.
    public func read(_ image: ResolvedImage, from source: any ImageSource) throws -> SealedImage {
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
                default: continue
                }
            }
        }
        guard let configBytes, let indexBytes else {
            throw ArcaError(.invalidFormat, "\(source.name) is not a sealed image: its last layer has no /\(SealedLayout.measuredConfigPath) and /\(SealedLayout.indexPath)")
        }
        let config = try MeasuredConfig.parse(configBytes, source: "/\(SealedLayout.measuredConfigPath)")
        let root = sha256Hex(indexBytes)
        guard config.shieldRoots == [root] else {
            throw ArcaError(.integrity, "shield index root is \(root), but the measured config names \(config.shieldRoots.joined(separator: ", "))")
        }
        // The stream table is public: it says how many blob layers sit before the shield layer.
        let streams = try ShieldIndex.parseUnverified(indexBytes, masterKey: nil).streams.count
        let diffIDs = image.diffIDs
        guard count >= 2 + streams else {
            throw ArcaError(.integrity, "the index names \(streams) streams but the image has only \(count) layers")
        }
        let runtimeLayer = count - 2 - streams
        guard config.runtime == diffIDs[runtimeLayer].description else {
            throw ArcaError(.integrity, "the runtime layer is \(diffIDs[runtimeLayer]) but the measured config names \(config.runtime)")
        }
        guard config.layers == diffIDs[..<runtimeLayer].map(\.description) else {
            let first = zip(config.layers, diffIDs.map(\.description)).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            throw ArcaError(.integrity, "the image's layers differ from those the measured config names"
                + (first.map { " (layer \($0 + 1) first)" } ?? " (the layer count differs)"))
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
        let sealed = try read(image, from: source)
        let rootfs = work + "/rootfs"
        try FileSystem.makeDirectories(rootfs)
        // The lower layers include the runtime and blob layers: the blobs land where arca-init finds them.
        _ = try scanner.extract(sealed.lowerImage, from: source, into: rootfs)
        guard let root = Hash256(hex: sealed.config.shieldRoots[0]) else {
            throw ArcaError(.invalidFormat, "shield root \(sealed.config.shieldRoots[0]) is not 64 hex digits")
        }
        let index = try ShieldIndex.parse(sealed.indexBytes, expectedRoot: root, masterKey: masterKey)
        let open = { (path: String) -> any RandomAccessBytes in
            FileBytes(adopting: try FileSystem.openBeneath(rootfs, path), path: path)
        }
        let blobs = try index.streams.map { stream -> any RandomAccessBytes in
            do {
                return try open("/" + SealedLayout.blobPath(streamIdHex: stream.streamId.hex))
            } catch let error as ArcaError {
                throw ArcaError(.integrity, "the blob of stream \(stream.streamId.hex.prefix(12))… is missing from the image: \(error.message)")
            }
        }
        guard let masterKey else {
            try checkBlobHeaders(index, blobs: blobs)
            return (sealed, try verifyAuthenticated(index.publicEntries, open: { try open($0.path) }, chunkSize: Int(index.layout.chunkSize)))
        }
        let report = try ShieldReader(index: index, masterKey: masterKey, blobs: blobs).verify(authenticatedContent: { try open($0.path) })
        return (sealed, report)
    }

    /// Without the key, each blob can still be checked for the header and size the index implies.
    private func checkBlobHeaders(_ index: ShieldIndex, blobs: [any RandomAccessBytes]) throws {
        for (k, blob) in blobs.enumerated() {
            var header = [UInt8](repeating: 0, count: ShieldFormat.blobHeaderSize)
            try header.withUnsafeMutableBytes { try blob.readExactly(at: 0, into: $0, what: "blob \(k) header") }
            guard header == index.blobHeader(stream: k) else {
                throw ArcaError(.integrity, "blob \(k) (stream \(index.streams[k].streamId.hex.prefix(12))…): its header differs from what the index expects")
            }
            var probe = [UInt8](repeating: 0, count: 2)
            let got = try probe.withUnsafeMutableBytes { try blob.read(at: index.blobSize(stream: k) - 1, into: $0) }
            guard got == 1 else {
                throw ArcaError(.integrity, "blob \(k) (stream \(index.streams[k].streamId.hex.prefix(12))…) is not the \(index.blobSize(stream: k)) bytes the index expects")
            }
        }
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
