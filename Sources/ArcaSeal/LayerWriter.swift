import ArcaArchive
import ArcaCore
import ArcaOCI

/// Pass two: puts each layer of the native image into the destination — byte for byte when it
/// holds nothing encrypted (same digest, shared with the original in every registry), otherwise
/// the rewrite pass one made, or (when pass one could not) a rewrite from a second read.
struct LayerWriter {
    let processor: LayerProcessor
    let limits: ArchiveLimits
    let compressionLevel: Int32
    let clampTime: Int64?

    /// Returns the layer's descriptor in the destination and its diff_id.
    func write(_ index: Int, of image: ResolvedImage, from source: any ImageSource, to destination: any ImageDestination,
               record: LayerRecord) throws -> (descriptor: Descriptor, diffID: Digest) {
        let layer = image.layers[index]
        guard record.touchesEncrypted else {
            if try !destination.hasBlob(layer) {
                try destination.putBlob(layer, from: source.openRawBlob(layer))
            }
            return (layer, image.diffIDs[index])
        }
        if let rewritten = record.rewritten {  // already in the destination (pass one)
            var descriptor = Descriptor(mediaType: MediaType.ociLayerGzip, digest: rewritten.digest, size: rewritten.size)
            descriptor.annotations = layer.annotations
            return (descriptor, rewritten.diffID)
        }
        let label = "layer \(index + 1) (\(layer.digest.short)…)"
        let compression = try MediaType.layerCompression(layer.mediaType)
        var diffID = ""
        let stored = try destination.putBlob(mediaType: MediaType.ociLayerGzip) { sink in
            let verified = try source.openVerifiedBlob(layer, label: label)
            let reader = TarReader(compression.decompressing(verified, limits: limits), limits: limits)
            let plain = HashingSink(LayerCompression.gzip.compressing(sink, level: compressionLevel))
            let writer = TarWriter(sink: plain, options: TarWriterOptions(clampModificationTime: clampTime))
            while let entry = try reader.next() {
                guard !processor.isEncrypted(entry) else { continue }
                try writer.append(entry, content: entry.type == .regular ? reader.contentSource() : nil)
            }
            try writer.finish()
            try reader.drain()
            try verified.drain()
            diffID = plain.hexDigest()
        }
        var descriptor = stored
        descriptor.annotations = layer.annotations
        return (descriptor, Digest(sha256Hex: diffID))
    }
}

/// Writes a deterministic layer of given files (the shield layer) into the destination, as an
/// uncompressed tar: its content is ciphertext and hashes, which no compressor can shrink.
/// Returns its descriptor and diff_id (the same digest).
func putFileLayer(_ files: [(path: String, content: FileContent)], directories: [String], to destination: any ImageDestination,
                  modificationTime: Int64) throws -> (descriptor: Descriptor, diffID: Digest) {
    var diffID = ""
    let mediaType = destination.acceptedLayerCompressions == [.none] ? MediaType.dockerLayer : MediaType.ociLayer
    let descriptor = try destination.putBlob(mediaType: mediaType) { sink in
        let plain = HashingSink(sink)
        let writer = TarWriter(sink: plain)
        let time = TarTime(seconds: modificationTime)
        for directory in directories {
            try writer.append(TarEntry(path: directory, type: .directory, mode: 0o755, modificationTime: time), content: nil)
        }
        for file in files {
            switch file.content {
            case .bytes(let bytes):
                try writer.append(TarEntry(path: file.path, type: .regular, mode: 0o644, modificationTime: time, size: Int64(bytes.count)),
                                  content: MemorySource(bytes))
            case .file(let path):
                try writer.append(TarEntry(path: file.path, type: .regular, mode: 0o644, modificationTime: time, size: try FileSystem.size(path)),
                                  content: try FileSource(path: path))
            }
        }
        try writer.finish()
        diffID = plain.hexDigest()
    }
    return (descriptor, Digest(sha256Hex: diffID))
}

enum FileContent {
    case bytes([UInt8])
    case file(String)
}
