import ArcaCore

/// Where a sealed chunk sits: its segment and offset (the chunk cache's key).
struct ChunkPlace: Hashable {
    let segment: UInt64
    let offset: UInt64
    init(_ reference: ChunkReference) {
        segment = reference.segment
        offset = reference.offset
    }
}

/// One segment file's size and the sealed bytes in it that are still referenced.
struct SegmentUse: Equatable {
    var size: Int
    var live: Int
}

/// The segment cleaner: chunks overwritten in place leave dead bytes in older segments. When the
/// dead bytes pass both `cleanerSlack` and the live bytes (the host then holds over twice the
/// data), the segments with the lowest live share have their live chunks copied, as sealed bytes
/// (no new encryption: the key, nonce and additional data do not depend on the place), into one
/// new segment; the old segments go once a version naming the new places is committed.
extension Volume {
    /// Dead bytes tolerated before the cleaner runs, whatever the live share.
    static let cleanerSlack = 64 << 20
    /// Live bytes one commit moves at most (bounds the memory and the time of one commit).
    static let cleanerBatch = 32 << 20

    func compactSegments() throws {
        let slack = cleanerSlackOverride ?? Self.cleanerSlack
        let size = segments.values.reduce(0) { $0 + $1.size }
        let live = segments.values.reduce(0) { $0 + $1.live }
        guard size - live > max(slack, live) else { return }
        var victims = Set<UInt64>()
        var moving = 0
        let unsyncedSet = Set(unsynced)
        for (number, use) in segments.sorted(by: { Double($0.value.live) / Double(max(1, $0.value.size))
                                                       < Double($1.value.live) / Double(max(1, $1.value.size)) })
            where use.live * 2 < use.size && !unsyncedSet.contains(number) {
            guard moving + use.live <= Self.cleanerBatch || victims.isEmpty else { break }
            victims.insert(number)
            moving += use.live
        }
        guard !victims.isEmpty else { return }
        let segment = tree.nextSegment
        var buffer: [UInt8] = []
        buffer.reserveCapacity(moving)
        func relocate(_ node: inout Node) throws {
            for (index, chunk) in node.chunks where victims.contains(chunk.segment) {
                let sealed = try host.readRange("segments/" + ChunkReference.segmentName(chunk.segment), offset: chunk.offset,
                                                count: chunk.sealedSize)
                var moved = chunk
                moved.segment = segment
                moved.offset = UInt64(buffer.count)
                buffer += sealed
                node.chunks[index] = moved
                obsolete.append(chunk)
            }
        }
        var nodes = tree.nodes
        var orphaned = orphans
        for inode in nodes.keys where nodes[inode]!.kind == .file { try relocate(&nodes[inode]!) }
        for inode in orphaned.keys { try relocate(&orphaned[inode]!) }
        guard !buffer.isEmpty else { return }
        try host.writeFile("segments/" + ChunkReference.segmentName(segment), buffer)
        tree.nodes = nodes
        orphans = orphaned
        tree.nextSegment += 1
        unsynced.append(segment)
        segments[segment] = SegmentUse(size: buffer.count, live: buffer.count)
        changed = true
    }
}
