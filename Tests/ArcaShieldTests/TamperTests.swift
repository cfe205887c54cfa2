import ArcaCore
import ArcaCrypto
@testable import ArcaShield
import Testing

/// Every tamper case of issue 3 on shield blobs and indexes: each is detected, naming the place.
@Suite struct TamperTests {
    let tree = SampleTree()
    let index: SealedIndex
    let blob: [UInt8]
    let sealedSize = 4096 + 16

    init() throws {
        (index, blob) = try tree.seal()
    }

    /// Opens the shield and reads every encrypted byte; returns the first error.
    func failure(index indexBytes: [UInt8]? = nil, blob blobBytes: [UInt8]? = nil, root: Hash256? = nil) -> ArcaError? {
        do {
            let reader = try openShield(indexBytes ?? index.bytes, blobBytes ?? blob, root: root ?? index.root)
            _ = try reader.verify { MemoryBytes(tree.contents[$0.path] ?? []) }
            return nil
        } catch let error as ArcaError {
            return error
        } catch {
            return ArcaError(.io, "unexpected \(error)")
        }
    }

    func chunkRange(_ j: Int) -> Range<Int> { (64 + j * sealedSize)..<(64 + (j + 1) * sealedSize) }

    @Test func intactShieldVerifies() {
        #expect(failure() == nil)
    }

    @Test func flippedBitInChunkCiphertextNamesFileAndChunk() throws {
        var bad = blob
        // Stream chunk 2 = stream bytes 8192..<12288; c-plus-one.bin is 4196..<8293, so its chunk 0
        // ends in stream chunk 2 and is the first file (in path order) that reads it.
        bad[chunkRange(2).lowerBound + 10] ^= 0x01
        let error = try #require(failure(blob: bad))
        #expect(error.code == .integrity)
        #expect(error.message.contains("/app/c-plus-one.bin, chunk 0"))
        #expect(error.message.contains("blob chunk 2"))
    }

    @Test func flippedBitInTagNamesFileAndChunk() throws {
        var bad = blob
        bad[chunkRange(0).upperBound - 1] ^= 0x80
        let error = try #require(failure(blob: bad))
        #expect(error.code == .integrity && error.message.contains("/app/a-small.txt, chunk 0"))
    }

    @Test func flippedBitInBlobHeaderNamesTheField() throws {
        for (offset, field) in [(0, "magic"), (9, "version"), (11, "reserved"), (13, "chunk size"), (20, "chunk count"), (30, "stream id"), (60, "reserved")] {
            var bad = blob
            bad[offset] ^= 0x04
            let error = try #require(failure(blob: bad))
            #expect(error.message.contains("blob header: \(field)"), "\(error)")
        }
    }

    @Test func everyBitOfTheIndexIsCoveredByTheRoot() throws {
        // Flip one bit in each region: header, public section, secret id, encrypted ciphertext, tag.
        let publicStart = 40 + 40  // header, one stream-table row
        let encryptedStart = index.bytes.count - (32 + 4096 + 16)
        for offset in [0, 12, 20, 33, 50, publicStart + 3, publicStart + 40, encryptedStart - 1, encryptedStart + 5,
                       encryptedStart + 40, index.bytes.count - 20, index.bytes.count - 1] {
            var bad = index.bytes
            bad[offset] ^= 0x10
            let error = try #require(failure(index: bad))
            #expect(error.code == .integrity && error.message.contains("index root"), "\(error)")
        }
    }

    @Test func flippedBitsWithAMatchingRootAreStillRejectedNamingTheRegion() throws {
        // Even a tool that trusts whatever root it is given (parseUnverified) rejects each region.
        let encryptedStart = index.bytes.count - (32 + 4096 + 16)
        let cases: [(Int, String)] = [(0, "magic"), (9, "version"), (11, "reserved"), (15, "chunk size"), (23, "index"),
                                      (31, "index"), (35, "index"), (39, "index"), (50, "encrypted"), (80 + 3, "public"),
                                      (encryptedStart + 2, "encrypted"), (encryptedStart + 100, "encrypted"),
                                      (index.bytes.count - 3, "encrypted")]
        for (offset, place) in cases {
            var bad = index.bytes
            bad[offset] ^= 0x01
            let error = try #require(throws: ArcaError.self) { try ShieldIndex.parseUnverified(bad, masterKey: fixedKey()) }
            #expect(error.message.contains(place), "offset \(offset): \(error)")
        }
    }

    @Test func truncatingTheIndexAnywhereIsRejected() throws {
        for length in 0..<index.bytes.count {
            let cut = Array(index.bytes[..<length])
            #expect(throws: ArcaError.self) { try ShieldIndex.parse(cut, expectedRoot: index.root, masterKey: fixedKey()) }
            #expect(throws: ArcaError.self) { try ShieldIndex.parseUnverified(cut, masterKey: fixedKey()) }
        }
        // Field boundaries of the header name the field that is cut.
        let error = try #require(throws: ArcaError.self) { try ShieldIndex.parseUnverified(Array(index.bytes[..<39]), masterKey: nil) }
        #expect(error.message.contains("index header"))
        let table = try #require(throws: ArcaError.self) { try ShieldIndex.parseUnverified(Array(index.bytes[..<79]), masterKey: nil) }
        #expect(table.message.contains("stream table"), "\(table)")
        // A public section cut inside an entry names the entry.
        let parsed = try ShieldIndex.parseUnverified(index.bytes, masterKey: nil)
        #expect(parsed.publicEntries.count > 3)
    }

    @Test func truncatingOrExtendingTheBlobIsRejected() throws {
        var boundaries = [0, 8, 10, 12, 16, 24, 56, 63, 64]
        for j in 0..<8 { boundaries += [chunkRange(j).lowerBound + 4096, chunkRange(j).upperBound - 1] }
        for length in boundaries {
            let error = try #require(failure(blob: Array(blob[..<length])))
            #expect(error.message.contains("blob"), "\(length): \(error)")
        }
        #expect(failure(blob: blob + [0])?.message.contains("longer") == true)
        #expect(failure(blob: [])?.message.contains("blob header") == true)
    }

    @Test func swappingTwoChunksOfOneFileIsDetected() throws {
        // d-two.bin is stream bytes 8293..<16485: stream chunks 2, 3 and 4.
        var bad = blob
        bad.replaceSubrange(chunkRange(3), with: blob[chunkRange(4)])
        bad.replaceSubrange(chunkRange(4), with: blob[chunkRange(3)])
        let error = try #require(failure(blob: bad))
        #expect(error.message.contains("/app/d-two.bin, chunk 0") && error.message.contains("blob chunk 3"), "\(error)")
    }

    @Test func swappingChunksBetweenFilesIsDetected() throws {
        // Chunk 0 holds a-small + the start of b-exact; chunk 6 holds only the secret file.
        var bad = blob
        bad.replaceSubrange(chunkRange(0), with: blob[chunkRange(6)])
        bad.replaceSubrange(chunkRange(6), with: blob[chunkRange(0)])
        let error = try #require(failure(blob: bad))
        #expect(error.message.contains("/app/a-small.txt, chunk 0"), "\(error)")
        // A chunk from another shield sealed with the same key (other content) is refused too.
        let (_, other) = try SampleTree(variant: 1).seal()
        var mixed = blob
        mixed.replaceSubrange(chunkRange(7), with: other[chunkRange(7)])
        #expect(try #require(failure(blob: mixed)).message.contains(SampleTree.secretName))
    }

    @Test func swappingWholeFilesIsDetected() throws {
        // Encrypted: exchange the ciphertext ranges of two files of the same size (b-exact and the
        // first 4096 bytes of d-two), as an attacker who guessed the layout would.
        let reader = try openShield(index.bytes, blob)
        let b = try #require(reader.index.entry(path: "/app/b-exact.bin"))
        let d = try #require(reader.index.entry(path: "/app/d-two.bin"))
        func blobOffset(_ streamOffset: UInt64) -> Int { 64 + Int(streamOffset / 4096) * sealedSize + Int(streamOffset % 4096) }
        var bad = blob
        let rangeB = blobOffset(b.streamOffset)..<(blobOffset(b.streamOffset) + 100)
        let rangeD = blobOffset(d.streamOffset)..<(blobOffset(d.streamOffset) + 100)
        bad.replaceSubrange(rangeB, with: blob[rangeD])
        bad.replaceSubrange(rangeD, with: blob[rangeB])
        // b-exact shares stream chunk 0 with a-small, which is read first.
        let swappedError = try #require(failure(blob: bad))
        #expect(swappedError.code == .integrity && swappedError.message.contains("encrypted file /app/a-small.txt, chunk 0"), "\(swappedError)")
        let tampered = try openShield(index.bytes, bad)
        #expect(throws: ArcaError.self) { _ = try tampered.read(b, offset: 0, length: 4096) }
        #expect(throws: ArcaError.self) { _ = try tampered.read(d, offset: 0, length: 4096) }
        // Authenticated: the unpacked layer holds /etc/one-chunk's bytes at /bin/tool and back.
        let swapped: (IndexEntry) -> any RandomAccessBytes = { entry in
            switch entry.path {
            case "/bin/tool": MemoryBytes(tree.contents["/etc/plus-one"] ?? [])
            case "/etc/plus-one": MemoryBytes(tree.contents["/bin/tool"] ?? [])
            default: MemoryBytes(tree.contents[entry.path] ?? [])
            }
        }
        let error = try #require(throws: ArcaError.self) { try reader.verify(authenticatedContent: swapped) }
        #expect(error.message.contains("authenticated file /bin/tool, chunk"), "\(error)")
        // Swapping two blobs of different shields: the header's stream id differs.
        let (_, other) = try SampleTree(variant: 1).seal()
        #expect(try #require(failure(blob: other)).message.contains("blob header: stream id"))
    }

    @Test func changedAuthenticatedBytesAreDetectedPerChunk() throws {
        let reader = try openShield(index.bytes, blob)
        let entry = try #require(reader.index.entry(path: "/etc/plus-one"))
        var bytes = try #require(tree.contents["/etc/plus-one"])
        bytes[4096] ^= 1
        let error = try #require(throws: ArcaError.self) {
            try Array(bytes[4096...]).withUnsafeBytes { try reader.verifyChunk(entry, chunk: 1, plaintext: $0) }
        }
        #expect(error.message == "authenticated file /etc/plus-one, chunk 1: SHA-256 differs from the index")
        // A short or long read is not the chunk, and a zero chunk is not a hole.
        #expect(throws: ArcaError.self) { try [UInt8](repeating: 0, count: 4096).withUnsafeBytes { try reader.verifyChunk(entry, chunk: 0, plaintext: $0) } }
        #expect(throws: ArcaError.self) { try Array(bytes[..<4095]).withUnsafeBytes { try reader.verifyChunk(entry, chunk: 0, plaintext: $0) } }
        // Extra bytes after the end of an authenticated file.
        let longer = { (e: IndexEntry) -> any RandomAccessBytes in MemoryBytes((tree.contents[e.path] ?? []) + (e.path == "/empty" ? [0] : [])) }
        #expect(try #require(throws: ArcaError.self) { try reader.verify(authenticatedContent: longer) }.message.contains("/empty"))
    }

    @Test func anIndexFromAnOlderSealFailsOnTheRoot() throws {
        let (older, olderBlob) = try SampleTree(variant: 1).seal()
        #expect(older.root != index.root)
        // The old index (and even its matching old blob) is valid on its own; only the root check catches it.
        #expect(throws: Never.self) { try ShieldIndex.parseUnverified(older.bytes, masterKey: fixedKey()) }
        let error = try #require(failure(index: older.bytes, blob: olderBlob))
        #expect(error.code == .integrity && error.message.contains("index root is \(older.root.hex), expected \(index.root.hex)"))
        // Mixing the old index's encrypted section with the new header and public part is refused.
        let newPublicEnd = index.bytes.count - (32 + 4096 + 16)
        let oldPublicEnd = older.bytes.count - (32 + 4096 + 16)
        let spliced = Array(index.bytes[..<newPublicEnd]) + Array(older.bytes[oldPublicEnd...])
        #expect(throws: ArcaError.self) { try ShieldIndex.parseUnverified(spliced, masterKey: fixedKey()) }
    }
}
