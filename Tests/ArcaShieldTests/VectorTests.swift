import ArcaCore
import ArcaCrypto
@testable import ArcaShield
import Testing

/// The golden vectors of format version 2 (Vectors/): a tiny tree sealed with the all-0x42 key
/// and 4 KiB chunks. If these tests fail, the format changed: that must be deliberate (a new
/// version in docs/FORMAT.md). Regenerate with `ARCA_WRITE_VECTORS=1 swift test --filter VectorTests`.
@Suite struct VectorTests {
    static let directory = String(#filePath.prefix(upTo: #filePath.lastIndex(of: "/") ?? #filePath.endIndex)) + "/Vectors"

    /// Bytes `i * 13 + seed` mod 251: simple enough to rebuild in any language.
    static func pattern(_ count: Int, seed: Int) -> [UInt8] { (0..<count).map { UInt8((($0 * 13) + seed) % 251) } }

    static let files: [String: [UInt8]] = [
        "/app/secret.txt": pattern(4097, seed: 1),     // encrypted, one chunk + 1 byte
        "/app/small": Array("top secret".utf8),        // encrypted, shares the last stream chunk
        "/bin/one-chunk": pattern(4096, seed: 2),      // authenticated, exactly one chunk
        "/empty": [],                                  // authenticated, empty
    ]

    static func inputs() -> [ShieldInput] {
        let time = Timestamp(seconds: 1_700_000_000, nanoseconds: 5)
        func file(_ path: String, _ protection: ProtectionClass) -> ShieldInput {
            let bytes = files[path] ?? []
            return ShieldInput(entry: IndexEntry(path: path, type: .regular, protection: protection, mode: 0o644, uid: 0, gid: 0,
                                                 mtime: time, size: UInt64(bytes.count)), content: MemoryBytes(bytes))
        }
        return [
            ShieldInput(entry: IndexEntry(path: "/", type: .directory, mode: 0o755, mtime: time)),
            ShieldInput(entry: IndexEntry(path: "/app", type: .directory, protection: .encrypted, mode: 0o700, uid: 1000, mtime: time)),
            file("/app/secret.txt", .encrypted),
            file("/app/small", .encrypted),
            ShieldInput(entry: IndexEntry(path: "/bin", type: .directory, mode: 0o755, mtime: time)),
            file("/bin/one-chunk", .authenticated),
            ShieldInput(entry: IndexEntry(path: "/bin/sh", type: .symlink, mode: 0o777, mtime: time, linkTarget: "one-chunk",
                                          xattrs: [ExtendedAttribute(name: "user.vector", value: [1, 2, 3])])),
            file("/empty", .authenticated),
        ]
    }

    static func seal() throws -> (index: SealedIndex, blob: [UInt8]) {
        let sink = MemorySink()
        let output = try ShieldWriter.write(inputs(), masterKey: fixedKey(0x42), chunkSize: 4096, blob: sink)
        return (output.index, sink.bytes)
    }

    static func read(_ name: String) throws -> [UInt8] {
        try FileSystem.readFile(directory + "/" + name, limit: 1 << 20)
    }

    @Test func regeneratedVectorsMatchByteForByte() throws {
        let (index, blob) = try Self.seal()
        if environmentValue("ARCA_WRITE_VECTORS") == "1" {
            try FileSystem.writeAtomically(index.bytes, to: Self.directory + "/v2-index.bin")
            try FileSystem.writeAtomically(blob, to: Self.directory + "/v2-blob.bin")
            try FileSystem.writeAtomically(Array((index.root.hex + "\n").utf8), to: Self.directory + "/v2-root.txt")
            try FileSystem.writeAtomically(Array((fixedKey(0x42).id + "\n").utf8), to: Self.directory + "/v2-key-id.txt")
        }
        #expect(try Self.read("v2-index.bin") == index.bytes, "the index encoding changed")
        #expect(try Self.read("v2-blob.bin") == blob, "the blob encoding changed")
        #expect(try String(decoding: Self.read("v2-root.txt"), as: UTF8.self) == index.root.hex + "\n")
        #expect(blob.count == 64 + 2 * (4096 + 16))
    }

    @Test func committedVectorsReadBack() throws {
        let rootText = String(decoding: try Self.read("v2-root.txt"), as: UTF8.self).filter { !$0.isWhitespace }
        let root = try #require(Hash256(hex: rootText))
        let key = try fixedKey(0x42)
        let index = try ShieldIndex.parse(try Self.read("v2-index.bin"), expectedRoot: root, masterKey: key)
        let reader = try ShieldReader(index: index, masterKey: key, blob: MemoryBytes(try Self.read("v2-blob.bin")))
        #expect(index.entries.map(\.path) == Self.inputs().map(\.entry.path))
        #expect(index.publicEntries.map(\.path) == ["/", "/bin", "/bin/one-chunk", "/bin/sh", "/empty"])
        #expect(index.streams.map(\.size) == [4107] && index.streams.map(\.chunkCount) == [2])
        for (path, bytes) in Self.files {
            let entry = try #require(index.entry(path: path))
            if entry.protection == .encrypted {
                #expect(try reader.read(entry, offset: 0, length: 10_000) == bytes)
            }
        }
        let report = try reader.verify { MemoryBytes(Self.files[$0.path] ?? []) }
        #expect(report.encryptedChunks == 3 && report.authenticatedChunks == 1 && report.blobChunks == 2)
        #expect(index.entry(path: "/bin/sh")?.xattrs == [ExtendedAttribute(name: "user.vector", value: [1, 2, 3])])
        // The derived values of the all-0x42 key, pinned.
        #expect(key.id == String(decoding: try Self.read("v2-key-id.txt"), as: UTF8.self).filter { !$0.isWhitespace })
    }

    /// Two streams (MultiStreamTests.make with the all-0x42 key): the stream table, stream numbers
    /// and offsets with a gap, each blob's header.
    @Test func twoStreamVectorsMatchAndReadBack() throws {
        let key = try fixedKey(0x42)
        let shield = try MultiStreamTests.make(key: key)
        if environmentValue("ARCA_WRITE_VECTORS") == "1" {
            try FileSystem.writeAtomically(shield.index.bytes, to: Self.directory + "/v2-two-streams-index.bin")
            for (k, blob) in shield.blobs.enumerated() {
                try FileSystem.writeAtomically(blob, to: Self.directory + "/v2-two-streams-blob-\(k).bin")
            }
        }
        #expect(try Self.read("v2-two-streams-index.bin") == shield.index.bytes, "the index encoding changed")
        #expect(try Self.read("v2-two-streams-blob-0.bin") == shield.blobs[0], "the blob encoding changed")
        #expect(try Self.read("v2-two-streams-blob-1.bin") == shield.blobs[1], "the blob encoding changed")
        let index = try ShieldIndex.parse(try Self.read("v2-two-streams-index.bin"), expectedRoot: shield.index.root, masterKey: key)
        let reader = try ShieldReader(index: index, masterKey: key,
                                      blobs: [MemoryBytes(try Self.read("v2-two-streams-blob-0.bin")), MemoryBytes(try Self.read("v2-two-streams-blob-1.bin"))])
        let three = try #require(index.entry(path: "/b/three"))
        #expect(three.stream == 1 && three.streamOffset == 100)
        #expect(try reader.read(three, offset: 0, length: 9000) == shield.contents["/b/three"])
    }
}
