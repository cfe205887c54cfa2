import ArcaCore

/// What a node is.
public enum NodeKind: UInt8, Sendable {
    case file = 1
    case directory = 2
    case symlink = 3
}

/// One file, directory or symbolic link of the volume, as the metadata stores it.
struct Node: Sendable, Equatable {
    var inode: UInt64
    /// The file identity (16 random bytes) that chunk additional data binds.
    var fileId: [UInt8]
    var kind: NodeKind
    /// Permission bits (and set-id / sticky bits), without the type bits.
    var permissions: UInt32
    var uid: UInt32
    var gid: UInt32
    var modificationSeconds: Int64
    var modificationNanoseconds: UInt32
    var size: UInt64 = 0
    var target: [UInt8] = []
    var chunks: [UInt64: ChunkReference] = [:]
    var entries: [[UInt8]: UInt64] = [:]
    /// The directory holding this node (the root's parent is itself). Not stored: rebuilt on decode.
    var parent: UInt64 = 0
}

/// The whole tree: the plaintext of a metadata file.
struct VolumeTree: Sendable, Equatable {
    static let rootInode: UInt64 = 1
    static let maximumNameLength = 255
    static let maximumTargetLength = 4096
    static let maximumNodes = 10_000_000

    var nextInode: UInt64
    /// The number the next segment file gets (segment numbers are never reused by later versions).
    var nextSegment: UInt64 = 0
    var nodes: [UInt64: Node]

    /// A tree holding only an empty root directory.
    static func empty(fileId: [UInt8], uid: UInt32, gid: UInt32, now: (Int64, UInt32)) -> VolumeTree {
        var root = Node(inode: rootInode, fileId: fileId, kind: .directory, permissions: 0o755, uid: uid, gid: gid,
                        modificationSeconds: now.0, modificationNanoseconds: now.1)
        root.parent = rootInode
        return VolumeTree(nextInode: rootInode + 1, nextSegment: 0, nodes: [rootInode: root])
    }

    /// The deterministic encoding: nodes by inode, chunks by index, entries by name bytes.
    func encoded() -> [UInt8] {
        var w = ByteWriter()
        // One allocation: a large file's chunk entries dominate, and doubling copies cost (measured).
        w.bytes.reserveCapacity(24 + nodes.values.reduce(0) { $0 + 80 + $1.chunks.count * Self.chunkEntrySize + $1.entries.count * 40 + $1.target.count })
        w.u64(nextInode)
        w.u64(nextSegment)
        w.u64(UInt64(nodes.count))
        for inode in nodes.keys.sorted() {
            let node = nodes[inode]!
            w.u64(node.inode)
            w.fixed(node.fileId)
            w.u8(node.kind.rawValue)
            w.u32(node.permissions)
            w.u32(node.uid)
            w.u32(node.gid)
            w.i64(node.modificationSeconds)
            w.u32(node.modificationNanoseconds)
            switch node.kind {
            case .file:
                w.u64(node.size)
                w.u64(UInt64(node.chunks.count))
                Self.encodeChunks(node.chunks, into: &w)
            case .directory:
                w.u64(UInt64(node.entries.count))
                for name in node.entries.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                    w.data(name)
                    w.u64(node.entries[name]!)
                }
            case .symlink:
                w.data(node.target)
            }
        }
        return w.bytes
    }

    /// A file's chunk entries by index, stored straight into the output (one zero-filled extension
    /// and fixed-offset stores instead of eight appends per chunk: the encoding of a large file's
    /// entries was 15% of the server's CPU in a random-write run, every commit re-encoding them).
    ///
    /// No sort of the entries: a file's chunks are nearly always dense (indices `0 ..< count`),
    /// and then each entry goes straight to its index's place; otherwise only the indices are
    /// sorted. Sorting the (index, reference) pairs, each reference holding two arrays, was 10% of
    /// the server's CPU in a random-write run (8,192 entries of a 128 MiB file at every commit).
    private static func encodeChunks(_ chunks: [UInt64: ChunkReference], into w: inout ByteWriter) {
        let count = chunks.count
        var dense = true
        for index in chunks.keys where index >= UInt64(count) {
            dense = false
            break
        }
        // Dense: every index below `count` is present (the keys are distinct and all below it).
        let order: [UInt64] = dense ? [] : chunks.keys.sorted()
        let start = w.bytes.count
        w.bytes.append(contentsOf: repeatElement(0, count: count * chunkEntrySize))
        w.bytes.withUnsafeMutableBytes { out in
            var at = start
            func put<T: FixedWidthInteger>(_ value: T) {
                out.storeBytes(of: value.bigEndian, toByteOffset: at, as: T.self)
                at += MemoryLayout<T>.size
            }
            // Sessions and tags are 16 bytes by construction; a shorter one is zero-padded and a
            // longer one cut, like a fixed-size field (never reached: both come from fixed reads
            // or from 16-byte randoms and GCM tags).
            func put16(_ bytes: [UInt8]) {
                bytes.withUnsafeBytes { source in
                    let count = min(16, source.count)
                    if count > 0 { (out.baseAddress! + at).copyMemory(from: source.baseAddress!, byteCount: count) }
                }
                at += 16
            }
            func entry(_ index: UInt64, _ chunk: ChunkReference) {
                put(index)
                put16(chunk.session)
                put(chunk.counter)
                put(chunk.writeVersion)
                put(chunk.length)
                put16(chunk.tag)
                put(chunk.segment)
                put(chunk.offset)
            }
            if dense {  // in the dictionary's own order, each entry at its index's place: no lookups
                for (index, chunk) in chunks {
                    at = start + Int(index) * chunkEntrySize
                    entry(index, chunk)
                }
            } else {
                for index in order { if let chunk = chunks[index] { entry(index, chunk) } }  // always found: keys
            }
        }
    }

    /// Decodes and checks the structure: one root directory, every entry naming an existing node,
    /// every node but the root reached exactly once (a tree; no hard links), sane names and chunks.
    static func decode(_ bytes: [UInt8], chunkSize: Int) throws -> VolumeTree {
        var r = ByteReader(bytes, what: "volume metadata")
        let nextInode = try r.u64()
        let nextSegment = try r.u64()
        let count = try r.u64()
        guard count >= 1, count <= UInt64(maximumNodes), count <= UInt64(r.remaining / 40) else {
            throw ArcaError(.invalidFormat, "volume metadata claims \(count) nodes (limit \(maximumNodes), or more than its bytes can hold)")
        }
        var nodes: [UInt64: Node] = [:]
        nodes.reserveCapacity(Int(count))
        var previous: UInt64 = 0
        for _ in 0..<count {
            let inode = try r.u64()
            guard inode > previous, inode < nextInode else {
                throw ArcaError(.invalidFormat, "volume metadata has inode \(inode) out of order or not below the next inode \(nextInode)")
            }
            previous = inode
            let fileId = try r.fixed(VolumeKeys.idSize)
            let rawKind = try r.u8()
            guard let kind = NodeKind(rawValue: rawKind) else {
                throw ArcaError(.invalidFormat, "volume metadata inode \(inode) has unknown kind \(rawKind)")
            }
            var node = Node(inode: inode, fileId: fileId, kind: kind, permissions: try r.u32(), uid: try r.u32(), gid: try r.u32(),
                            modificationSeconds: try r.i64(), modificationNanoseconds: try r.u32())
            guard node.permissions & ~UInt32(0o7777) == 0, node.modificationNanoseconds < 1_000_000_000 else {
                throw ArcaError(.invalidFormat, "volume metadata inode \(inode) has mode \(node.permissions) or a bad time")
            }
            switch kind {
            case .file:
                node.size = try r.u64()
                let chunkCount = try r.u64()
                guard node.size <= UInt64(Int64.max) else {
                    throw ArcaError(.invalidFormat, "volume metadata inode \(inode) is \(node.size) bytes, over the \(Int64.max) limit")
                }
                let limit = (node.size + UInt64(chunkSize) - 1) / UInt64(chunkSize)
                guard chunkCount <= limit, chunkCount <= UInt64(r.remaining / chunkEntrySize) else {
                    throw ArcaError(.invalidFormat, "volume metadata inode \(inode) has \(chunkCount) chunks for \(node.size) bytes")
                }
                var last: UInt64?
                for _ in 0..<chunkCount {
                    let index = try r.u64()
                    guard index < limit, last.map({ index > $0 }) ?? true else {
                        throw ArcaError(.invalidFormat, "volume metadata inode \(inode) has chunk \(index) out of order or past its size")
                    }
                    last = index
                    let chunk = ChunkReference(session: try r.fixed(16), counter: try r.u64(), writeVersion: try r.u64(),
                                               length: try r.u32(), tag: try r.fixed(ChunkCipher.tagSize),
                                               segment: try r.u64(), offset: try r.u64())
                    let room = min(UInt64(chunkSize), node.size - index * UInt64(chunkSize))
                    guard chunk.length >= 1, UInt64(chunk.length) <= room else {
                        throw ArcaError(.invalidFormat, "volume metadata inode \(inode) chunk \(index) is \(chunk.length) bytes, over the \(room) that fit")
                    }
                    guard chunk.segment < nextSegment, chunk.offset <= maximumSegmentOffset else {
                        throw ArcaError(.invalidFormat, "volume metadata inode \(inode) chunk \(index) is in segment \(chunk.segment) at \(chunk.offset), not below the next segment \(nextSegment) or past the \(maximumSegmentOffset) offset limit")
                    }
                    node.chunks[index] = chunk
                }
            case .directory:
                let entryCount = try r.u64()
                guard entryCount <= UInt64(r.remaining / 12) else {
                    throw ArcaError(.invalidFormat, "volume metadata inode \(inode) claims \(entryCount) entries, more than its bytes hold")
                }
                var last: [UInt8]?
                for _ in 0..<entryCount {
                    let name = try r.data(limit: maximumNameLength)
                    guard isValidName(name), last.map({ $0.lexicographicallyPrecedes(name) }) ?? true else {
                        throw ArcaError(.invalidFormat, "volume metadata inode \(inode) has an invalid or unordered entry name")
                    }
                    last = name
                    node.entries[name] = try r.u64()
                }
            case .symlink:
                node.target = try r.data(limit: maximumTargetLength)
                guard !node.target.isEmpty, !node.target.contains(0) else {
                    throw ArcaError(.invalidFormat, "volume metadata inode \(inode) has an empty or NUL-holding link target")
                }
            }
            nodes[inode] = node
        }
        guard r.isAtEnd else { throw ArcaError(.invalidFormat, "volume metadata has \(r.remaining) trailing bytes") }
        guard nodes[rootInode]?.kind == .directory else {
            throw ArcaError(.invalidFormat, "volume metadata has no root directory")
        }
        // Link every entry to its parent; a node named twice (or the root named) is refused.
        nodes[rootInode]!.parent = rootInode
        for (inode, node) in nodes where node.kind == .directory {
            for (_, child) in node.entries {
                guard child != rootInode, nodes[child] != nil, nodes[child]!.parent == 0 else {
                    throw ArcaError(.invalidFormat, "volume metadata names inode \(child) twice, or names the root or a missing inode")
                }
                nodes[child]!.parent = inode
            }
        }
        // Every node reachable from the root (no detached cycles).
        var seen: Set<UInt64> = [rootInode]
        var stack: [UInt64] = [rootInode]
        while let inode = stack.popLast() {
            for child in nodes[inode]!.entries.values where seen.insert(child).inserted { stack.append(child) }
        }
        guard seen.count == nodes.count else {
            throw ArcaError(.invalidFormat, "volume metadata has \(nodes.count - seen.count) nodes not reachable from the root")
        }
        return VolumeTree(nextInode: nextInode, nextSegment: nextSegment, nodes: nodes)
    }

    static func isValidName(_ name: [UInt8]) -> Bool {
        !name.isEmpty && name.count <= maximumNameLength && !name.contains(0) && !name.contains(UInt8(ascii: "/"))
            && name != [UInt8(ascii: ".")] && name != [UInt8(ascii: "."), UInt8(ascii: ".")]
    }

    /// The bytes of one chunk entry in the encoding.
    static let chunkEntrySize = 8 + 16 + 8 + 8 + 4 + ChunkCipher.tagSize + 8 + 8
    /// Offsets within a segment stay far below this (segments are tens of MiB).
    static let maximumSegmentOffset: UInt64 = 1 << 40

    /// The live (referenced) sealed bytes in each segment the tree references.
    var segmentUse: [UInt64: Int] {
        var use: [UInt64: Int] = [:]
        for node in nodes.values { for chunk in node.chunks.values { use[chunk.segment, default: 0] += chunk.sealedSize } }
        return use
    }
}
