import Testing
@testable import ArcaVolume

/// The metadata's chunk entries are encoded without sorting the references (VolumeTree.swift):
/// dense files by index place, others by sorted index. Whatever order the entries were inserted
/// in, the encoding must decode to the same tree (decoding refuses entries out of order).
@Suite struct VolumeTreeEncodingTests {
    static let chunkSize = 4096

    static func reference(_ random: inout TestRandom, segment: UInt64) -> ChunkReference {
        ChunkReference(session: random.bytes(16), counter: random.next(), writeVersion: random.next() % 1000,
                       length: UInt32(1 + random.next() % UInt64(chunkSize)), tag: random.bytes(16),
                       segment: segment, offset: random.next() % (1 << 30))
    }

    /// A tree with one file per chunk layout: dense (inserted backwards), sparse (holes at the
    /// start, middle and end), a single chunk far into the file, and no chunks at all.
    static func tree(seed: UInt64) -> VolumeTree {
        var random = TestRandom(seed: seed)
        var tree = VolumeTree.empty(fileId: random.bytes(16), uid: 0, gid: 0, now: (1_700_000_000, 0))
        tree.nextSegment = 10
        let layouts: [[UInt64]] = [Array((0..<300).reversed()), [3, 4, 9, 200, 150, 151, 7], [1_000_000], []]
        for (k, indices) in layouts.enumerated() {
            let inode = tree.nextInode
            tree.nextInode += 1
            var node = Node(inode: inode, fileId: random.bytes(16), kind: .file, permissions: 0o644, uid: 0, gid: 0,
                            modificationSeconds: 1_700_000_000, modificationNanoseconds: 0)
            node.size = (indices.max().map { $0 + 1 } ?? 0) * UInt64(chunkSize)
            for index in indices {
                var chunk = reference(&random, segment: random.next() % 10)
                chunk.length = UInt32(chunkSize)
                node.chunks[index] = chunk
            }
            node.parent = VolumeTree.rootInode
            tree.nodes[inode] = node
            tree.nodes[VolumeTree.rootInode]!.entries[Array("f\(k)".utf8)] = inode
        }
        return tree
    }

    @Test func denseAndSparseChunkEntriesRoundTrip() throws {
        for seed: UInt64 in [1, 2, 3] {
            let tree = Self.tree(seed: seed)
            let bytes = tree.encoded()
            let decoded = try VolumeTree.decode(bytes, chunkSize: Self.chunkSize)
            #expect(decoded == tree)
            #expect(decoded.encoded() == bytes, "the encoding is deterministic")
        }
    }
}
