import ArcaCore
import ArcaCrypto
import Crypto
@testable import ArcaShield
import Testing

@Suite struct DeterminismTests {
    @Test func sameInputGivesTheSameBytes() throws {
        let first = try SampleTree().seal()
        let second = try SampleTree().seal()
        #expect(first.index == second.index)
        #expect(first.blob == second.blob)
    }

    /// The staged API driven from many tasks, chunks in scrambled order, gives the same bytes.
    @Test func parallelStagedSealingMatchesTheOneCallWriter() async throws {
        let tree = SampleTree()
        let (expectedIndex, expectedBlob) = try tree.seal()
        let parsed = try ShieldIndex.parse(expectedIndex.bytes, expectedRoot: expectedIndex.root, masterKey: fixedKey())
        // The stream: the encrypted files' bytes in path order (what ShieldWriter packs).
        var stream: [UInt8] = []
        for entry in parsed.encryptedEntries where entry.isEncryptedRegular && entry.size > 0 {
            #expect(entry.streamOffset == UInt64(stream.count))
            stream += tree.contents[entry.path] ?? []
        }
        let layout = try ChunkLayout(chunkSize: SampleTree.chunkSize)
        let count = layout.chunkCount(size: UInt64(stream.count))
        let size = UInt64(stream.count)
        let content = stream
        var rng = SeededRandom(seed: 42)
        let order = Array(0..<count).shuffled(using: &rng)
        @Sendable func assemble(_ j: UInt64) throws -> [UInt8] {
            var chunk = [UInt8](repeating: 0xEE, count: SampleTree.chunkSize)
            try chunk.withUnsafeMutableBytes { try SealedBlobSource.assemble(j, of: MemoryBytes(content), size: size, layout: layout, into: $0) }
            return chunk
        }
        let digests = try await withThrowingTaskGroup(of: (UInt64, Hash256).self) { group in
            for j in order { group.addTask { (j, try assemble(j).withUnsafeBytes { StreamSealer.chunkDigest($0) }) } }
            var result = [Hash256](repeating: .zero, count: Int(count))
            for try await (j, digest) in group { result[Int(j)] = digest }
            return result
        }
        let sealer = try StreamSealer(masterKey: fixedKey(), layout: layout, size: size, chunkDigests: digests)
        let sealed = try await withThrowingTaskGroup(of: (UInt64, [UInt8]).self) { group in
            for j in order.reversed() {
                group.addTask {
                    let plain = try assemble(j)
                    var out = [UInt8](repeating: 0, count: sealer.sealedChunkSize)
                    try plain.withUnsafeBytes { p in try out.withUnsafeMutableBytes { try sealer.seal(chunk: j, plaintext: p, into: $0) } }
                    return (j, out)
                }
            }
            var blob = [UInt8](repeating: 0, count: Int(sealer.blobSize))
            blob.replaceSubrange(0..<64, with: sealer.blobHeader)
            for try await (j, bytes) in group {
                let at = Int(sealer.blobOffset(ofChunk: j))
                blob.replaceSubrange(at..<(at + bytes.count), with: bytes)
            }
            return blob
        }
        #expect(sealed == expectedBlob)
        // The parallel hashing source gives the same stream, at any width.
        for width in [1, 2, 7] {
            let hashed = try StreamSealer.hashing(MemoryBytes(content), size: size, masterKey: fixedKey(), layout: layout, parallelism: width)
            #expect(hashed.info == parsed.streams[0])
            var blob: [UInt8] = []
            let sink = MemorySink()
            try SealedBlobSource(sealer: hashed, content: MemoryBytes(content), parallelism: width).copy(to: sink)
            blob = sink.bytes
            #expect(blob == expectedBlob)
        }
        #expect(try ShieldIndexBuilder.build(entries: parsed.entries, streams: [sealer.info], masterKey: fixedKey(),
                                             chunkSize: SampleTree.chunkSize) == expectedIndex)

        // Sealing bytes other than the committed ones is refused (it would reuse a nonce).
        var wrong = try assemble(0)
        wrong[0] ^= 1
        var out = [UInt8](repeating: 0, count: sealer.sealedChunkSize)
        let error = try #require(throws: ArcaError.self) {
            try wrong.withUnsafeBytes { p in try out.withUnsafeMutableBytes { try sealer.seal(chunk: 0, plaintext: p, into: $0) } }
        }
        #expect(error.code == .integrity)
    }

    /// Different content under the same master key never reuses a (key, nonce) pair: the stream
    /// key changes with any content change, and the index key with any entry change.
    @Test func differentContentNeverReusesAKeyNoncePair() throws {
        let key = try fixedKey()
        let keys = KeySchedule(masterKey: key)
        let base = try SampleTree().seal()
        let changed = try SampleTree(variant: 1).seal()
        var renamed = SampleTree()
        renamed.inputs[1].entry.mode = 0o700  // metadata only: same stream, new index plaintext
        let metadataOnly = try renamed.seal()

        func ids(_ sealed: (index: SealedIndex, blob: [UInt8])) throws -> (stream: Hash256, secret: Hash256) {
            let parsed = try ShieldIndex.parseUnverified(sealed.index.bytes, masterKey: key)
            let secretStart = sealed.index.bytes.count - (32 + 4096 + 16)
            return (parsed.streams[0].streamId, try #require(Hash256(Array(sealed.index.bytes[secretStart..<(secretStart + 32)]))))
        }
        let a = try ids(base), b = try ids(changed), c = try ids(metadataOnly)
        #expect(a.stream != b.stream)
        #expect(KeyBytes(keys.streamKey(streamId: a.stream)) != KeyBytes(keys.streamKey(streamId: b.stream)))
        #expect(a.secret != b.secret && a.secret != c.secret)
        #expect(KeyBytes(keys.indexKey(secretId: a.secret)) != KeyBytes(keys.indexKey(secretId: c.secret)))
        // Same stream when only metadata changed: same key, same nonces, and the same plaintext,
        // so the same ciphertext (determinism, not reuse).
        #expect(a.stream == c.stream)
        #expect(base.blob == metadataOnly.blob)
        // Within one stream the nonces are the chunk counters: all distinct.
        let nonces = Set((0..<UInt64(8)).map { ChunkCodec.nonceBytes(index: $0) })
        #expect(nonces.count == 8)
    }
}

/// Key bytes, to compare derived keys in tests (never printed).
private func KeyBytes(_ key: SymmetricKey) -> [UInt8] { key.withUnsafeBytes { Array($0) } }
