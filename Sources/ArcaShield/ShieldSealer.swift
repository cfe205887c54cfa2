import ArcaCore
import ArcaCrypto

/// Stage 4–5 of writing a shield: seals stream chunks (from any thread, in any order) and
/// builds the index. Immutable; every call is independent.
public struct ShieldSealer: Sendable {
    public let plan: ShieldPlan
    /// The stream identity (zero when there is no encrypted content).
    public let streamId: Hash256
    private let keys: KeySchedule
    private let codec: ChunkCodec?
    private let chunkDigests: [Hash256]

    init(plan: ShieldPlan, keys: KeySchedule, chunkDigests: [Hash256]) throws {
        self.plan = plan
        self.keys = keys
        self.chunkDigests = chunkDigests
        if plan.chunkCount > 0 {
            let id = keys.streamId(chunkSize: plan.layout.chunkSize, streamSize: plan.streamSize, chunkDigests: chunkDigests)
            streamId = id
            codec = try ChunkCodec(keys: keys, layout: plan.layout, streamId: id, streamSize: plan.streamSize)
        } else {
            streamId = .zero
            codec = nil
        }
    }

    /// True when the shield has a blob (some encrypted file has content).
    public var hasBlob: Bool { plan.chunkCount > 0 }

    /// The 64 bytes at the start of the blob.
    public var blobHeader: [UInt8] { BlobHeader.encode(layout: plan.layout, chunkCount: plan.chunkCount, streamId: streamId) }

    /// Bytes of a sealed chunk (ciphertext + tag).
    public var sealedChunkSize: Int { plan.layout.chunkSize + ChunkCodec.tagSize }

    /// Where sealed chunk `index` goes in the blob.
    public func blobOffset(ofChunk index: UInt64) -> UInt64 {
        UInt64(ShieldFormat.blobHeaderSize) + index * UInt64(sealedChunkSize)
    }

    /// The total blob size (0 without a blob).
    public var blobSize: UInt64 { hasBlob ? blobOffset(ofChunk: plan.chunkCount) : 0 }

    /// Seals stream chunk `index`. `plaintext` must be the same full-size chunk whose digest was
    /// committed (else `integrity`: sealing other bytes would reuse a nonce); `output` is
    /// `sealedChunkSize` bytes.
    public func seal(chunk index: UInt64, plaintext: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws {
        guard let codec, index < plan.chunkCount else {
            throw ArcaError(.invalidArgument, "chunk \(index) is past the last chunk of a \(plan.chunkCount)-chunk stream")
        }
        guard plaintext.count == plan.layout.chunkSize, output.count == sealedChunkSize else {
            throw ArcaError(.invalidArgument, "chunk \(index): buffers of \(plaintext.count) and \(output.count) bytes, expected \(plan.layout.chunkSize) and \(sealedChunkSize)")
        }
        guard ChunkHasher.digest(plaintext) == chunkDigests[Int(index)] else {
            throw ArcaError(.integrity, "stream chunk \(index) changed between hashing and sealing (did a file change during the seal?)")
        }
        try codec.seal(index: index, plaintext: plaintext, into: output)
    }

    /// The canonical index and its root.
    public func makeIndex() throws -> SealedIndex {
        let publicEntries = plan.entries.filter { $0.protection == .authenticated }
        let encryptedEntries = plan.entries.filter { $0.protection == .encrypted }
        let bytes = try IndexCodec.build(layout: plan.layout, publicEntries: publicEntries, encryptedEntries: encryptedEntries,
                                         streamSize: plan.streamSize, blobChunkCount: plan.chunkCount, streamId: streamId, keys: keys)
        return SealedIndex(bytes: bytes, root: ChunkHasher.digest(bytes))
    }
}

/// The bytes of an index and its root (SHA-256 of the bytes).
public struct SealedIndex: Hashable, Sendable {
    public let bytes: [UInt8]
    public let root: Hash256
}
