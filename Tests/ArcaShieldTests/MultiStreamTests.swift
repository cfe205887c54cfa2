import ArcaCore
import ArcaCrypto
@testable import ArcaShield
import Testing

/// Shields with several streams (one per source layer, as the sealer makes them): reads,
/// verification of bytes no entry names, and blobs or chunks moved between streams.
@Suite struct MultiStreamTests {
    struct TwoStreams {
        var index: SealedIndex
        var blobs: [[UInt8]]
        var contents: [String: [UInt8]]
    }

    /// Stream 0 holds /a/one (5000 bytes) and 3000 bytes nobody names (a replaced file);
    /// stream 1 holds /b/two (100 bytes) and /b/three (9000 bytes).
    static func make(key: MasterKey) throws -> TwoStreams {
        let one = content(11, 5000), dead = content(12, 3000), two = content(13, 100), three = content(14, 9000)
        let streamContents = [one + dead, two + three]
        let layout = try ChunkLayout(chunkSize: 4096)
        var streams: [StreamInfo] = []
        var blobs: [[UInt8]] = []
        for bytes in streamContents {
            let sealer = try StreamSealer.hashing(MemoryBytes(bytes), size: UInt64(bytes.count), masterKey: key, layout: layout, parallelism: 2)
            let sink = MemorySink()
            try SealedBlobSource(sealer: sealer, content: MemoryBytes(bytes), parallelism: 2).copy(to: sink)
            streams.append(sealer.info)
            blobs.append(sink.bytes)
        }
        let entries = [
            IndexEntry(path: "/", type: .directory, mode: 0o755),
            IndexEntry(path: "/a", type: .directory, protection: .encrypted, mode: 0o700),
            IndexEntry(path: "/a/one", type: .regular, protection: .encrypted, size: 5000, stream: 0, streamOffset: 0),
            IndexEntry(path: "/b", type: .directory, protection: .encrypted, mode: 0o700),
            IndexEntry(path: "/b/empty", type: .regular, protection: .encrypted),
            IndexEntry(path: "/b/three", type: .regular, protection: .encrypted, size: 9000, stream: 1, streamOffset: 100),
            IndexEntry(path: "/b/two", type: .regular, protection: .encrypted, size: 100, stream: 1, streamOffset: 0),
        ]
        let index = try ShieldIndexBuilder.build(entries: entries, streams: streams, masterKey: key, chunkSize: 4096)
        return TwoStreams(index: index, blobs: blobs, contents: ["/a/one": one, "/b/two": two, "/b/three": three, "/b/empty": []])
    }

    func reader(_ shield: TwoStreams, blobs: [[UInt8]]? = nil, key: MasterKey) throws -> ShieldReader {
        let index = try ShieldIndex.parse(shield.index.bytes, expectedRoot: shield.index.root, masterKey: key)
        return try ShieldReader(index: index, masterKey: key, blobs: (blobs ?? shield.blobs).map { MemoryBytes($0) })
    }

    @Test func filesOfEveryStreamReadBackAndVerify() throws {
        let key = try fixedKey()
        let shield = try Self.make(key: key)
        let reader = try reader(shield, key: key)
        #expect(reader.index.streams.map(\.size) == [8000, 9100])
        for (path, bytes) in shield.contents {
            let entry = try #require(reader.index.entry(path: path))
            #expect(try reader.read(entry, offset: 0, length: 20_000) == bytes, "\(path)")
            #expect(try reader.read(entry, offset: 4095, length: 2) == Array(bytes.dropFirst(4095).prefix(2)))
        }
        let report = try reader.verify(authenticatedContent: nil)
        #expect(report.blobChunks == 2 + 3 && report.encryptedChunks == 2 + 1 + 3)
        // Without the key only the public stream table is visible.
        let locked = try ShieldIndex.parse(shield.index.bytes, expectedRoot: shield.index.root, masterKey: nil)
        #expect(locked.isLocked && locked.streams.map(\.chunkCount) == [2, 3] && locked.streams.allSatisfy { $0.size == 0 })
    }

    @Test func swappedBlobsAndMovedChunksAreRefused() throws {
        let key = try fixedKey()
        let shield = try Self.make(key: key)
        // Blobs given in the wrong order, or one missing.
        let swapped = try #require(throws: ArcaError.self) { try reader(shield, blobs: shield.blobs.reversed(), key: key) }
        #expect(swapped.message.contains("blob 0") && swapped.message.contains("header"), "\(swapped)")
        #expect(throws: ArcaError.self) { try reader(shield, blobs: [shield.blobs[0]], key: key) }
        // Chunk 0 of stream 1 put in place of chunk 0 of stream 0 (same position, other stream).
        let sealed = 4096 + 16
        var moved = shield.blobs
        moved[0].replaceSubrange(64..<(64 + sealed), with: shield.blobs[1][64..<(64 + sealed)])
        let error = try #require(throws: ArcaError.self) { try reader(shield, blobs: moved, key: key).verify(authenticatedContent: nil) }
        #expect(error.message.contains("/a/one, chunk 0"), "\(error)")
        // A bit flipped in bytes no entry names is still found (the whole blob is verified).
        var dead = shield.blobs
        dead[0][64 + sealed + 3000] ^= 1
        let deadError = try #require(throws: ArcaError.self) { try reader(shield, blobs: dead, key: key).verify(authenticatedContent: nil) }
        #expect(deadError.message.contains("stream 0") || deadError.message.contains("/a/one"), "\(deadError)")
    }

    @Test func theSameStreamTwiceIsRefused() throws {
        let key = try fixedKey()
        let shield = try Self.make(key: key)
        let parsed = try ShieldIndex.parse(shield.index.bytes, expectedRoot: shield.index.root, masterKey: key)
        #expect(throws: ArcaError.self) {
            try ShieldIndexBuilder.build(entries: parsed.entries, streams: [parsed.streams[0], parsed.streams[0]], masterKey: key, chunkSize: 4096)
        }
    }
}
