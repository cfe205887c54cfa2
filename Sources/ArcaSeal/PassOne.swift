import ArcaArchive
import ArcaCore
import ArcaOCI

/// What pass one made of one layer, and whether the cache supplied it.
struct LayerOutcome: Sendable {
    enum Status: Equatable, Sendable { case hit, miss, uncached }
    var record: LayerRecord
    var status: Status
    /// Why a cache entry for this layer was refused (then recomputed), if one was.
    var rejected: String?
}

/// Pass one for one layer: the cache entry when one verifies, else `LayerProcessor` (whose
/// result then goes into the cache). Either way the layer's artifacts (blob layer, rewritten
/// layer) are put into the destination here; that copy checks them against their digests, so a
/// corrupted cache artifact is caught, dropped and recomputed.
struct PassOne {
    let processor: LayerProcessor
    let cache: LayerCache?
    let policy: [UInt8]
    let work: String
    let image: ResolvedImage
    let source: any ImageSource
    let destination: any ImageDestination

    func run(_ index: Int) throws -> LayerOutcome {
        let plaintext = work + "/plain-\(index)"
        guard let cache else {
            let directory = work + "/layer-\(index)"
            try FileSystem.makeDirectories(directory, permissions: 0o700)
            let record = try processor.process(index, of: image, from: source, into: directory, plaintextPath: plaintext,
                                               destination: destination, keepBlobLayer: false)
            try putArtifacts(record, from: directory)
            return LayerOutcome(record: record, status: .uncached)
        }
        let layer = image.layers[index]
        let key = LayerCache.key(layerDigest: layer.digest.description, diffID: image.diffIDs[index].description,
                                 mediaType: layer.mediaType, policy: policy, keyID: processor.masterKey.id,
                                 chunkSize: processor.chunkLayout.chunkSize, compressionLevel: processor.compressionLevel,
                                 clampTime: processor.clampTime)
        var rejected: String?
        switch cache.load(key) {
        case .hit(let record):
            do {
                try putArtifacts(record, from: cache.directory(key))
                return LayerOutcome(record: record, status: .hit)
            } catch let error as ArcaError {
                cache.evict(key)
                rejected = "cache entry \(key.prefix(12))…: \(error.message)"
            }
        case .rejected(let reason):
            rejected = reason
        case .miss:
            break
        }
        let staging = try cache.makeStaging()
        do {
            let record = try processor.process(index, of: image, from: source, into: staging, plaintextPath: plaintext,
                                               destination: destination, keepBlobLayer: true)
            try putArtifacts(record, from: staging)
            try cache.commit(record, key: key, staging: staging)
            return LayerOutcome(record: record, status: .miss, rejected: rejected)
        } catch {
            try? FileSystem.removeTree(staging)
            throw error
        }
    }

    /// Copies the blob layer and the rewritten layer into the destination unless it has them;
    /// `putBlob` checks each against its digest and size.
    private func putArtifacts(_ record: LayerRecord, from directory: String) throws {
        if let blob = record.blobLayer {
            let descriptor = Descriptor(mediaType: processor.blobLayerMediaType, digest: blob.digest, size: blob.size)
            if try !destination.hasBlob(descriptor) {
                try destination.putBlob(descriptor, from: FileSource(path: directory + "/blob.tar"))
            }
        }
        if let rewritten = record.rewritten {
            let descriptor = Descriptor(mediaType: MediaType.ociLayerGzip, digest: rewritten.digest, size: rewritten.size)
            if try !destination.hasBlob(descriptor) {
                try destination.putBlob(descriptor, from: FileSource(path: directory + "/rewritten.tar.gz"))
            }
        }
    }
}
