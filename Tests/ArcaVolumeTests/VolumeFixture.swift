import ArcaCore
import ArcaCrypto
import ArcaTestSupport
@testable import ArcaVolume

#if canImport(Glibc)
import Glibc
#endif

/// A volume in a temporary directory: `host` is the volume's host directory, `anchorPath` the
/// file-backed anchor beside it (outside the host directory, as the keeper is).
struct VolumeFixture {
    let directory: String
    let key: MasterKey
    var host: String { directory + "/host" }
    var anchorPath: String { directory + "/anchor" }
    var anchor: FileVolumeAnchor { FileVolumeAnchor(path: anchorPath) }

    @discardableResult
    static func with<T>(chunkSize: Int = 4096, _ body: (VolumeFixture) async throws -> T) async throws -> T {
        try await Fixture.withTemporaryDirectory { dir in
            let fixture = VolumeFixture(directory: dir, key: MasterKey.generate())
            let volume = try Volume.create(at: fixture.host, key: fixture.key, anchor: fixture.anchor, chunkSize: chunkSize)
            try volume.close()
            return try await body(fixture)
        }
    }

    func open() throws -> Volume { try Volume.open(at: host, key: key, anchor: anchor) }

    func segmentFiles() throws -> [String] { try FileSystem.listDirectory(host + "/segments").sorted() }
    func segmentPath(_ segment: UInt64) -> String { host + "/segments/" + ChunkReference.segmentName(segment) }

    /// The sealed bytes of `chunk` as its segment file holds them.
    func sealedBytes(_ chunk: ChunkReference) throws -> [UInt8] {
        let bytes = try FileSystem.readFile(segmentPath(chunk.segment), limit: 1 << 28)
        return Array(bytes[Int(chunk.offset)..<Int(chunk.offset) + chunk.sealedSize])
    }

    /// Changes the segment file of `chunk` with `edit` (the host tampering with it).
    func editSegment(_ segment: UInt64, _ edit: (inout [UInt8]) -> Void) throws {
        var bytes = try FileSystem.readFile(segmentPath(segment), limit: 1 << 28)
        edit(&bytes)
        try FileSystem.writeAtomically(bytes, to: segmentPath(segment))
    }
    func metadataFiles() throws -> [String] { try FileSystem.listDirectory(host + "/meta").sorted() }
}

extension Volume {
    /// Creates (or replaces) `path`'s file under the root with `bytes`; returns its inode.
    @discardableResult
    func put(_ name: String, _ bytes: [UInt8], in parent: UInt64 = Volume.rootInode) throws -> UInt64 {
        let inode: UInt64
        if let existing = try? lookup(parent: parent, name: Array(name.utf8)) {
            inode = existing.inode
            _ = try setAttributes(inode: inode, AttributeUpdate(size: 0))
        } else {
            inode = try create(parent: parent, name: Array(name.utf8), permissions: 0o644, uid: 0, gid: 0).inode
        }
        _ = try bytes.withUnsafeBytes { try write(inode: inode, offset: 0, bytes: $0) }
        return inode
    }

    /// The whole content of `name` under `parent`.
    func get(_ name: String, in parent: UInt64 = Volume.rootInode) throws -> [UInt8] {
        let attributes = try lookup(parent: parent, name: Array(name.utf8))
        return try contents(inode: attributes.inode)
    }

    func contents(inode: UInt64) throws -> [UInt8] {
        let size = Int(try attributes(inode: inode).size)
        var bytes = [UInt8](repeating: 0xEE, count: size)
        let n = try bytes.withUnsafeMutableBytes { try read(inode: inode, offset: 0, into: $0) }
        return Array(bytes[..<n])
    }

    /// The segment file names the tree references.
    var referencedSegmentFiles: Set<String> { Set(tree.segmentUse.keys.map(ChunkReference.segmentName)) }

    /// The chunk references of `name` under the root, by index.
    func chunks(of name: String) throws -> [ChunkReference] {
        let node = tree.nodes[try lookup(parent: Volume.rootInode, name: Array(name.utf8)).inode]!
        return node.chunks.keys.sorted().map { node.chunks[$0]! }
    }

    func names(_ inode: UInt64 = Volume.rootInode) throws -> [String] {
        try list(inode: inode).map { String(decoding: $0.name, as: UTF8.self) }
    }
}

/// Deterministic pseudo-random bytes (tests must be reproducible).
struct TestRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) } }
}
