import ArcaCore
import ArcaCrypto
import Crypto
import ArcaTestSupport
import Testing
@testable import ArcaVolume

/// Golden vectors (docs/FORMAT.md, "Volumes") and hostile input for every volume parser.
@Suite struct VolumeFormatTests {
    static func master() throws -> MasterKey { try MasterKey(bytes: Array(0..<32)) }
    static let volumeId: [UInt8] = Array(0xA0...0xAF)
    static let session: [UInt8] = Array(0xB0...0xBF)
    static let fileId: [UInt8] = Array(0xC0...0xCF)

    @Test func goldenVectorsPinTheKeyScheduleAndTheChunkEncryption() throws {
        let keys = try VolumeKeys(masterKey: try Self.master(), volumeId: Self.volumeId)
        let chunkKey = keys.chunkKey(session: Self.session).withUnsafeBytes { Hex.encode($0) }
        let metadataKey = keys.metadataKey(version: 2, salt: [UInt8](repeating: 0x11, count: 32)).withUnsafeBytes { Hex.encode($0) }
        let sealed = try ChunkCipher(keys: keys).seal(Array("arca volume chunk".utf8), key: try keys.chunkCipherKey(session: Self.session),
                                                      session: Self.session, counter: 7, fileId: Self.fileId, index: 3, writeVersion: 5)
        #expect(chunkKey == "1f9d9ddc0ab5ff0c5a23bd6fa477ee0b9dd44a0d56a57729046db17bfb75fcf7")
        #expect(metadataKey == "bedf78f65f117c939b186b3467b5d784807976e1b60955dcca39e6b82e815cf6")
        #expect(Hex.encode(keys.keyCheck) == "1546b2c5351eb0d64a1f0e5893c564b5")
        #expect(Hex.encode(sealed.bytes) == "d5168db7d40f6596b6056dd95e4f2c65348c39467c2f437b26606f7bb72b470384")
        #expect(ChunkReference.segmentName(0x1_0000_002A) == "000000010000002a")
        let opened = try ChunkCipher(keys: keys).open(sealed.bytes[...], key: try keys.chunkCipherKey(session: Self.session), reference: sealed.reference,
                                                      fileId: Self.fileId, index: 3)
        #expect(opened == Array("arca volume chunk".utf8))
        // Bound values: another index, file, version or volume does not open it.
        var moved = sealed.reference
        moved.writeVersion = 4
        #expect(throws: ArcaError.self) {
            _ = try ChunkCipher(keys: keys).open(sealed.bytes[...], key: try keys.chunkCipherKey(session: Self.session), reference: moved, fileId: Self.fileId, index: 3)
        }
        #expect(throws: ArcaError.self) {
            _ = try ChunkCipher(keys: keys).open(sealed.bytes[...], key: try keys.chunkCipherKey(session: Self.session), reference: sealed.reference, fileId: Self.fileId, index: 4)
        }
        let other = try VolumeKeys(masterKey: try Self.master(), volumeId: Array(repeating: 0, count: 16))
        #expect(throws: ArcaError.self) {
            _ = try ChunkCipher(keys: other).open(sealed.bytes[...], key: try other.chunkCipherKey(session: Self.session), reference: sealed.reference, fileId: Self.fileId, index: 3)
        }
    }

    /// A small tree with every node kind, for the parser tests.
    static func sampleTree() -> VolumeTree {
        var tree = VolumeTree.empty(fileId: fileId, uid: 0, gid: 0, now: (1_700_000_000, 5))
        var file = Node(inode: 2, fileId: session, kind: .file, permissions: 0o644, uid: 1, gid: 2, modificationSeconds: 3, modificationNanoseconds: 4)
        file.size = 5000
        file.chunks[1] = ChunkReference(session: session, counter: 1, writeVersion: 2, length: 904, tag: Array(repeating: 9, count: 16),
                                        segment: 6, offset: 12_345)
        let link = Node(inode: 3, fileId: volumeId, kind: .symlink, permissions: 0o777, uid: 0, gid: 0, modificationSeconds: 0,
                        modificationNanoseconds: 0, target: Array("file".utf8))
        tree.nodes[2] = file
        tree.nodes[3] = link
        tree.nodes[1]!.entries = [Array("file".utf8): 2, Array("link".utf8): 3]
        tree.nextInode = 4
        tree.nextSegment = 7
        return tree
    }

    @Test func theTreeEncodingRoundTripsAndEveryTruncationOrBitFlipIsHandled() throws {
        let tree = Self.sampleTree()
        let bytes = tree.encoded()
        #expect(sha256Hex(bytes) == "c71921e3cd2c4fe5bf0318e8176bf316f11a09b52c88a765e7ddec649ff6ee22", "the format v2 tree encoding (docs/FORMAT.md)")
        var decoded = try VolumeTree.decode(bytes, chunkSize: 4096)
        decoded.nodes[2]!.parent = 0; decoded.nodes[3]!.parent = 0  // parents are rebuilt, not stored
        var expected = tree
        expected.nodes[2]!.parent = 0; expected.nodes[3]!.parent = 0
        #expect(decoded == expected)
        for length in 0..<bytes.count {
            #expect(throws: ArcaError.self) { _ = try VolumeTree.decode(Array(bytes[..<length]), chunkSize: 4096) }
        }
        for offset in 0..<bytes.count {
            for bit in [0, 7] {
                var changed = bytes
                changed[offset] ^= UInt8(1 << bit)
                _ = try? VolumeTree.decode(changed, chunkSize: 4096)  // an error or another valid tree, never a crash
            }
        }
    }

    @Test func structuralLiesInATreeAreRefused() throws {
        func refuse(_ edit: (inout VolumeTree) -> Void) {
            var tree = Self.sampleTree()
            edit(&tree)
            #expect(throws: ArcaError.self) { _ = try VolumeTree.decode(tree.encoded(), chunkSize: 4096) }
        }
        refuse { $0.nodes[1]!.entries[Array("again".utf8)] = 2 }  // a hard link
        refuse { $0.nodes[1]!.entries[Array("loop".utf8)] = 1 }  // the root named
        refuse { $0.nodes[1]!.entries[Array("ghost".utf8)] = 3_000 }  // a missing node
        refuse { $0.nodes[1]!.entries[Array("a/b".utf8)] = 9; $0.nodes[9] = Node(inode: 9, fileId: Self.fileId, kind: .directory, permissions: 0, uid: 0, gid: 0, modificationSeconds: 0, modificationNanoseconds: 0) }
        refuse { $0.nodes[1]!.entries[Array("..".utf8)] = 3 }
        refuse { $0.nextInode = 3 }  // inode 3 not below the next inode
        refuse { $0.nodes[2]!.size = 100 }  // chunk 1 past the size
        refuse { $0.nodes[2]!.chunks[1]!.length = 4097 }  // a chunk longer than the chunk size
        refuse { $0.nextSegment = 6 }  // chunk 1 in segment 6, not below the next segment
        refuse { $0.nodes[2]!.chunks[1]!.offset = 1 << 41 }  // an offset past any segment
        refuse { $0.nodes[1]!.entries[Array("link".utf8)] = nil }  // an unreachable node
        refuse { $0.nodes[1]!.kind = .file }  // no root directory
        refuse { $0.nodes[2]!.size = .max }  // a size whose chunk count would overflow
        refuse { $0.nodes[2]!.permissions = 0o10644 }  // type bits in the permissions
        // Overflowing counts.
        var w = ByteWriter()
        w.u64(2); w.u64(.max)
        #expect(throws: ArcaError.self) { _ = try VolumeTree.decode(w.bytes, chunkSize: 4096) }
    }

    @Test func metadataFilesHeadersAndAnchorsRefuseHostileBytes() async throws {
        let keys = try VolumeKeys(masterKey: try Self.master(), volumeId: Self.volumeId)
        let sealed = try MetadataFile.seal(tree: Self.sampleTree(), keys: keys, version: 7, chunkSize: 4096)
        var opened = try MetadataFile.open(sealed, keys: keys, version: 7, chunkSize: 4096)
        #expect(opened.nodes.count == 3)
        #expect(throws: ArcaError.self) { _ = try MetadataFile.open(sealed, keys: keys, version: 8, chunkSize: 4096) }
        for length in 0..<sealed.count {
            #expect(throws: ArcaError.self) { _ = try MetadataFile.open(Array(sealed[..<length]), keys: keys, version: 7, chunkSize: 4096) }
        }
        for offset in 0..<sealed.count {
            var changed = sealed
            changed[offset] ^= 0x80
            #expect(throws: ArcaError.self) { _ = try MetadataFile.open(changed, keys: keys, version: 7, chunkSize: 4096) }
        }
        opened = try MetadataFile.open(sealed + [], keys: keys, version: 7, chunkSize: 4096)
        #expect(opened.nextInode == 4)

        let header = VolumeHeader(volumeId: Self.volumeId, chunkSize: 4096, keyCheck: keys.keyCheck).encoded()
        #expect(try VolumeHeader.decode(header).chunkSize == 4096)
        for length in 0..<header.count { #expect(throws: ArcaError.self) { _ = try VolumeHeader.decode(Array(header[..<length])) } }
        var badChunk = header
        badChunk[8 + 2 + 16 + 3] ^= 1
        #expect(throws: ArcaError.self) { _ = try VolumeHeader.decode(badChunk) }

        try await ArcaTestSupport.Fixture.withTemporaryDirectory { dir in
            let anchor = FileVolumeAnchor(path: dir + "/anchor")
            #expect(try anchor.read() == VolumeAnchorState(committed: nil, intent: nil))
            let one = AnchorPoint(version: 1, root: .zero)
            try anchor.intent(one)
            try anchor.commit(one)
            #expect(throws: ArcaError.self) { try anchor.intent(AnchorPoint(version: 3, root: .zero)) }
            #expect(throws: ArcaError.self) { try anchor.commit(AnchorPoint(version: 2, root: .zero)) }
            // A torn write of the newest slot falls back to the state before it.
            let two = AnchorPoint(version: 2, root: try #require(Hash256(Array(repeating: 7, count: 32))))
            try anchor.intent(two)
            let beforeCommit = try FileSystem.readFile(dir + "/anchor", limit: 4096)
            try anchor.commit(two)
            var torn = try FileSystem.readFile(dir + "/anchor", limit: 4096)
            #expect(torn != beforeCommit)
            let slot = FileVolumeAnchor.slotSize
            let newest = try #require(zip(torn, beforeCommit).enumerated().first { $0.element.0 != $0.element.1 }).offset / slot
            torn[newest * slot + 20] ^= 0xFF
            try FileSystem.writeAtomically(torn, to: dir + "/anchor")
            #expect(try anchor.read() == VolumeAnchorState(committed: one, intent: two))
            torn[(1 - newest) * slot + 20] ^= 0xFF  // both slots broken: refused
            try FileSystem.writeAtomically(torn, to: dir + "/anchor")
            #expect(throws: ArcaError.self) { _ = try anchor.read() }
            try FileSystem.writeAtomically(beforeCommit, to: dir + "/anchor")
            #expect(try anchor.read() == VolumeAnchorState(committed: one, intent: two))
            let stored = try FileSystem.readFile(dir + "/anchor", limit: 4096)
            for length in 0..<stored.count {
                try FileSystem.writeAtomically(Array(stored[..<length]), to: dir + "/anchor")
                #expect(throws: ArcaError.self) { _ = try anchor.read() }
            }
        }
    }
}
