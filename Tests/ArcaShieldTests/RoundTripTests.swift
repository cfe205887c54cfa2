import ArcaCore
import ArcaCrypto
import ArcaTestSupport
@testable import ArcaShield
import Testing

@Suite struct RoundTripTests {
    @Test func everyEntryAndByteComesBack() throws {
        let tree = SampleTree()
        let (index, blob) = try tree.seal()
        #expect(blob.count == 64 + 8 * (4096 + 16))
        let reader = try openShield(index.bytes, blob)
        #expect(reader.index.root == index.root)
        #expect(reader.index.entries.map(\.path) == tree.inputs.map(\.entry.path))
        for input in tree.inputs {
            let entry = try #require(reader.index.entry(path: input.entry.path))
            #expect(entry.type == input.entry.type)
            #expect(entry.protection == input.entry.protection)
            #expect(entry.mode == input.entry.mode && entry.uid == input.entry.uid && entry.gid == input.entry.gid)
            #expect(entry.mtime == input.entry.mtime && entry.size == input.entry.size)
            #expect(entry.linkTarget == input.entry.linkTarget && entry.xattrs == input.entry.xattrs)
            #expect(entry.deviceMajor == input.entry.deviceMajor && entry.deviceMinor == input.entry.deviceMinor)
            guard entry.type == .regular, let expected = tree.contents[entry.path] else { continue }
            if entry.protection == .encrypted {
                #expect(try reader.read(entry, offset: 0, length: Int(entry.size) + 10) == expected)
            } else {
                for i in 0..<UInt64(entry.chunkDigests.count) {
                    let start = Int(i) * SampleTree.chunkSize
                    let chunk = Array(expected[start..<min(start + SampleTree.chunkSize, expected.count)])
                    try chunk.withUnsafeBytes { try reader.verifyChunk(entry, chunk: i, plaintext: $0) }
                }
            }
        }
        let report = try reader.verify { MemoryBytes(tree.contents[$0.path] ?? []) }
        #expect(report.entries == tree.inputs.count)
        #expect(report.authenticatedChunks == 3 + 0 + 1 + 2)
        #expect(report.encryptedChunks == 1 + 1 + 2 + 2 + 0 + 4)
    }

    @Test func randomAccessReadsMatchAtEveryBoundary() throws {
        let tree = SampleTree()
        let (index, blob) = try tree.seal()
        let reader = try openShield(index.bytes, blob)
        var rng = SeededRandom(seed: 7)
        for entry in reader.index.encryptedEntries where entry.type == .regular && entry.size > 0 {
            let expected = try #require(tree.contents[entry.path])
            for i in 0..<reader.index.layout.chunkCount(size: entry.size) {
                let start = Int(i) * 4096
                #expect(try reader.readChunk(entry, chunk: i) == Array(expected[start..<min(start + 4096, expected.count)]))
            }
            for _ in 0..<40 {
                let offset = Int.random(in: 0..<expected.count, using: &rng)
                let length = Int.random(in: 1...9000, using: &rng)
                #expect(try reader.read(entry, offset: UInt64(offset), length: length) == Array(expected[offset..<min(offset + length, expected.count)]))
            }
            #expect(try reader.read(entry, offset: entry.size, length: 10).isEmpty)
            #expect(throws: ArcaError.self) { try reader.readChunk(entry, chunk: reader.index.layout.chunkCount(size: entry.size)) }
        }
    }

    @Test func defaultChunkSizeWithLargerFiles() throws {
        var inputs: [ShieldInput] = []
        var contents: [String: [UInt8]] = [:]
        for (i, size) in [65535, 65536, 65537, 200_000, 1, 131_072].enumerated() {
            let path = "/data/f\(i)"
            contents[path] = content(UInt64(100 + i), size)
            inputs.append(ShieldInput(entry: IndexEntry(path: path, type: .regular, protection: i % 2 == 0 ? .encrypted : .authenticated,
                                                        size: UInt64(size)), content: MemoryBytes(contents[path] ?? [])))
        }
        let sink = MemorySink()
        let output = try ShieldWriter.write(inputs, masterKey: fixedKey(), blob: sink)
        let reader = try openShield(output.index.bytes, sink.bytes)
        #expect(reader.index.layout.chunkSize == 65536)
        #expect(output.blobSize == UInt64(sink.bytes.count))
        for entry in reader.index.encryptedEntries {
            #expect(try reader.read(entry, offset: 0, length: 1 << 20) == contents[entry.path])
        }
        _ = try reader.verify { MemoryBytes(contents[$0.path] ?? []) }
    }

    @Test func readsTheBlobFromAFileWithPread() async throws {
        let tree = SampleTree()
        let (index, blob) = try tree.seal()
        try await Fixture.withTemporaryDirectory { dir in
            try FileSystem.writeAtomically(blob, to: dir + "/0.blob")
            try KeyFile.write(try fixedKey(), to: dir + "/master.key")
            let key = try KeyFile.read(path: dir + "/master.key")
            let file = try FileBytes(path: dir + "/0.blob")
            #expect(try file.size() == UInt64(blob.count))
            let reader = try ShieldReader(index: ShieldIndex.parse(index.bytes, expectedRoot: index.root, masterKey: key),
                                          masterKey: key, blob: file)
            let entry = try #require(reader.index.entry(path: "/app/" + SampleTree.secretName))
            #expect(try reader.read(entry, offset: 0, length: 1 << 20) == tree.contents[entry.path])
            #expect(throws: ArcaError.self) { try FileBytes(path: dir + "/missing") }
        }
    }

    @Test func publicPartParsesWithoutTheKey() throws {
        let (index, blob) = try SampleTree().seal()
        let locked = try ShieldIndex.parse(index.bytes, expectedRoot: index.root, masterKey: nil)
        #expect(locked.isLocked && locked.hasEncryptedSection)
        #expect(locked.encryptedEntries.isEmpty)
        #expect(locked.publicEntries.allSatisfy { $0.protection == .authenticated })
        #expect(locked.entry(path: "/app") == nil)
        #expect(locked.entry(path: "/bin/tool")?.chunkDigests.count == 3)
        // A reader for the encrypted part needs the key.
        #expect(throws: ArcaError.self) { try ShieldReader(index: locked, masterKey: nil, blob: MemoryBytes(blob)) }
        // The wrong key fails on the encrypted section, naming it.
        let error = try #require(throws: ArcaError.self) { try ShieldIndex.parse(index.bytes, expectedRoot: index.root, masterKey: fixedKey(0x43)) }
        #expect(error.code == .integrity && error.message.contains("encrypted index section"))
    }

    @Test func authenticatedOnlyTreeHasNoBlob() throws {
        var tree = SampleTree()
        tree.inputs.removeAll { $0.entry.protection == .encrypted }
        let (index, blob) = try tree.seal()
        #expect(blob.isEmpty)
        let parsed = try ShieldIndex.parse(index.bytes, expectedRoot: index.root, masterKey: nil)
        #expect(!parsed.hasEncryptedSection && parsed.streams.isEmpty)
        let reader = try ShieldReader(index: parsed, masterKey: nil, blob: nil)
        _ = try reader.verify { MemoryBytes(tree.contents[$0.path] ?? []) }
    }

    @Test func encryptedEntriesWithoutContentHaveASectionButNoBlob() throws {
        let inputs = [ShieldInput(entry: IndexEntry(path: "/secret", type: .directory, protection: .encrypted)),
                      ShieldInput(entry: IndexEntry(path: "/secret/empty", type: .regular, protection: .encrypted), content: MemoryBytes([]))]
        let sink = MemorySink()
        let output = try ShieldWriter.write(inputs, masterKey: fixedKey(), chunkSize: 4096, blob: sink)
        #expect(sink.bytes.isEmpty && output.blobSize == 0)
        let parsed = try ShieldIndex.parse(output.index.bytes, expectedRoot: output.index.root, masterKey: fixedKey())
        #expect(parsed.encryptedEntries.map(\.path) == ["/secret", "/secret/empty"])
    }
}
