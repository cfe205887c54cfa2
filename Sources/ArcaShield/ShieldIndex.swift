import ArcaCore
import ArcaCrypto

/// A parsed, verified shield index (FORMAT.md §5–7).
///
/// `parse(_:expectedRoot:masterKey:)` checks the root first, then every canonical-form rule;
/// the encrypted section is opened only when a master key is given.
public struct ShieldIndex: Sendable {
    /// SHA-256 of the index bytes: the value the measurement takes.
    public let root: Hash256
    public let layout: ChunkLayout
    /// The streams (one blob each), in table order: chunk count and id always, size once unlocked.
    public let streams: [StreamInfo]
    /// The `authenticated` entries, sorted by path.
    public let publicEntries: [IndexEntry]
    /// The `encrypted` entries, sorted by path; empty when locked or when there are none.
    public let encryptedEntries: [IndexEntry]
    /// True when the index has an encrypted section.
    public let hasEncryptedSection: Bool
    /// True when the encrypted section exists and was not opened (no key given).
    public let isLocked: Bool

    /// Parses `bytes` after checking that their SHA-256 is `expectedRoot` (the measured root).
    /// With `masterKey`, also opens and checks the encrypted section.
    public static func parse(_ bytes: [UInt8], expectedRoot: Hash256, masterKey: MasterKey?) throws -> ShieldIndex {
        let root = ChunkHasher.digest(bytes)
        guard root.constantTimeEquals(expectedRoot) else {
            throw ArcaError(.integrity, "index root is \(root.hex), expected \(expectedRoot.hex) (the index was changed or replaced, for example by one from an older seal)")
        }
        return try parse(bytes, root: root, masterKey: masterKey)
    }

    /// Parses `bytes` without comparing the root to a measured one: for inspection tools, or when
    /// the caller compares `root` itself. Every format rule is still checked.
    public static func parseUnverified(_ bytes: [UInt8], masterKey: MasterKey?) throws -> ShieldIndex {
        try parse(bytes, root: ChunkHasher.digest(bytes), masterKey: masterKey)
    }

    private static func parse(_ bytes: [UInt8], root: Hash256, masterKey: MasterKey?) throws -> ShieldIndex {
        guard bytes.count <= ShieldFormat.maximumIndexSize else {
            throw ArcaError(.limitExceeded, "index is \(formatBytes(bytes.count)), over the \(formatBytes(ShieldFormat.maximumIndexSize)) limit")
        }
        let header = try IndexHeader.decode(bytes)
        let headerEnd = header.encodedSize
        let available = UInt64(bytes.count - headerEnd)
        guard header.publicLength <= available, header.encryptedLength <= available - header.publicLength else {
            throw ArcaError(.invalidFormat, "index is truncated: header promises \(header.publicLength) public and \(header.encryptedLength) encrypted bytes, \(available) follow")
        }
        guard header.publicLength + header.encryptedLength == available else {
            throw ArcaError(.invalidFormat, "index has \(available - header.publicLength - header.encryptedLength) bytes after its last section")
        }
        guard header.streams.isEmpty || header.encryptedLength > 0 else {
            throw ArcaError(.invalidFormat, "index header: \(header.streams.count) streams but no encrypted section")
        }
        let layout = header.layout
        let publicEnd = headerEnd + Int(header.publicLength)
        var reader = ByteReader(bytes, from: headerEnd, to: publicEnd, place: "public section")
        let publicEntries = try parseEntries(&reader, section: "public", protection: .authenticated, layout: layout)
        try reader.expectEnd("the public entries")

        var encrypted: [IndexEntry] = []
        var streams = header.streams.map { StreamInfo(chunkCount: $0.chunkCount, streamId: $0.streamId, size: 0) }
        let locked = header.encryptedLength > 0 && masterKey == nil
        if header.encryptedLength > 0, let masterKey {
            (encrypted, streams) = try openEncryptedSection(bytes, aadEnd: publicEnd, header: header, keys: KeySchedule(masterKey: masterKey))
        }
        try checkHardlinks(publicEntries, section: "public")
        try checkHardlinks(encrypted, section: "encrypted")
        try checkDisjoint(publicEntries, encrypted)
        return ShieldIndex(root: root, layout: layout, streams: streams, publicEntries: publicEntries, encryptedEntries: encrypted,
                           hasEncryptedSection: header.encryptedLength > 0, isLocked: locked)
    }

    private static func parseEntries(_ reader: inout ByteReader, section: String, protection: ProtectionClass,
                                     layout: ChunkLayout) throws -> [IndexEntry] {
        let count = Int(try reader.u32("\(section) entry count"))
        guard count <= ShieldFormat.maximumEntries else {
            throw reader.fail("\(count) entries, over the \(ShieldFormat.maximumEntries) limit")
        }
        // The smallest entry is 49 bytes (a one-byte path, no target, xattrs or chunk table):
        // refuse counts the bytes cannot hold before reserving memory for them.
        guard count <= reader.remaining / 49 else {
            throw reader.fail("\(count) entries cannot fit in the \(reader.remaining) bytes left")
        }
        var entries: [IndexEntry] = []
        entries.reserveCapacity(count)
        let sectionPlace = reader.place
        for i in 0..<count {
            reader.place = "\(section) entry \(i)"
            let entry = try EntryCodec.decode(from: &reader, layout: layout)
            guard entry.protection == protection else {
                throw reader.fail("class \(entry.protection) in the \(section) section")
            }
            if let previous = entries.last, !pathPrecedes(previous.path, entry.path) {
                throw reader.fail("out of order or repeated after \(previous.path)")
            }
            entries.append(entry)
        }
        reader.place = sectionPlace
        return entries
    }

    private static func openEncryptedSection(_ bytes: [UInt8], aadEnd: Int, header: IndexHeader,
                                             keys: KeySchedule) throws -> ([IndexEntry], [StreamInfo]) {
        let start = aadEnd
        guard header.encryptedLength >= UInt64(32 + 4096 + ChunkCodec.tagSize) else {
            throw ArcaError(.invalidFormat, "encrypted section is \(header.encryptedLength) bytes, shorter than the \(32 + 4096 + ChunkCodec.tagSize)-byte minimum")
        }
        let secretId = bytes.withUnsafeBytes { Hash256(bytes: UnsafeRawBufferPointer(rebasing: $0[start..<(start + 32)])) }
        let plaintext = try bytes.withUnsafeBytes { all in
            try IndexCipher.open(sealed: UnsafeRawBufferPointer(rebasing: all[(start + 32)...]),
                                 additionalData: UnsafeRawBufferPointer(rebasing: all[..<aadEnd]),
                                 key: keys.indexKey(secretId: secretId))
        }
        let recomputed = bytes.withUnsafeBytes { all in
            plaintext.withUnsafeBytes { keys.secretId(additionalData: UnsafeRawBufferPointer(rebasing: all[..<aadEnd]), plaintext: $0) }
        }
        guard recomputed.constantTimeEquals(secretId) else {
            throw ArcaError(.integrity, "encrypted section: secret id does not commit to its plaintext")
        }
        var reader = ByteReader(plaintext, place: "encrypted section")
        let used = try reader.u64("used length")
        let minimum = UInt64(12 + 8 * header.streams.count)
        guard used >= minimum, used <= UInt64(plaintext.count), ShieldFormat.paddedLength(Int(used)) == plaintext.count else {
            throw reader.fail("used length \(used) does not match the padded length \(plaintext.count)")
        }
        reader = ByteReader(plaintext, from: reader.offset, to: Int(used), place: "encrypted section")
        var streams: [StreamInfo] = []
        for (k, row) in header.streams.enumerated() {
            let size = try reader.u64("size of stream \(k)")
            guard header.layout.chunkCount(size: size) == row.chunkCount else {
                throw reader.fail("a \(size)-byte stream \(k) needs \(header.layout.chunkCount(size: size)) chunks, the stream table says \(row.chunkCount)")
            }
            streams.append(StreamInfo(chunkCount: row.chunkCount, streamId: row.streamId, size: size))
        }
        let entries = try parseEntries(&reader, section: "encrypted", protection: .encrypted, layout: header.layout)
        try reader.expectEnd("the encrypted entries")
        let padding = plaintext.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0[Int(used)...]) }
        guard ConstantTime.isZero(padding) else { throw ArcaError(.invalidFormat, "encrypted section: padding is not zero") }
        try checkStreamRanges(entries, streams: streams)
        return (entries, streams)
    }

    /// Every encrypted file with content lies inside its stream (files may leave gaps: a stream
    /// holds a layer's encrypted files, some of which a later layer replaced or removed).
    static func checkStreamRanges(_ entries: [IndexEntry], streams: [StreamInfo]) throws {
        for entry in entries where entry.isEncryptedRegular {
            guard entry.size > 0 else {
                guard entry.stream == 0, entry.streamOffset == 0 else {
                    throw ArcaError(.invalidFormat, "encrypted entry \(entry.path): empty, but it names stream \(entry.stream) offset \(entry.streamOffset)")
                }
                continue
            }
            guard Int(entry.stream) < streams.count else {
                throw ArcaError(.invalidFormat, "encrypted entry \(entry.path): stream \(entry.stream), but the index has \(streams.count) streams")
            }
            let size = streams[Int(entry.stream)].size
            guard entry.size <= size, entry.streamOffset <= size - entry.size else {
                throw ArcaError(.invalidFormat, "encrypted entry \(entry.path): bytes \(entry.streamOffset)+\(entry.size) lie outside the \(size)-byte stream \(entry.stream)")
            }
        }
    }

    private static func checkHardlinks(_ entries: [IndexEntry], section: String) throws {
        for entry in entries where entry.type == .hardlink {
            guard let target = find(entry.linkTarget, in: entries), target.type == .regular else {
                throw ArcaError(.invalidFormat, "\(section) entry \(entry.path): hardlink target \(entry.linkTarget) is not a regular file of the same section")
            }
        }
    }

    private static func checkDisjoint(_ a: [IndexEntry], _ b: [IndexEntry]) throws {
        var i = 0, j = 0
        while i < a.count, j < b.count {
            if a[i].path == b[j].path { throw ArcaError(.invalidFormat, "path \(a[i].path) is in both sections") }
            if pathPrecedes(a[i].path, b[j].path) { i += 1 } else { j += 1 }
        }
    }

    static func find(_ path: String, in entries: [IndexEntry]) -> IndexEntry? {
        var low = 0, high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if pathPrecedes(entries[mid].path, path) { low = mid + 1 } else { high = mid }
        }
        return low < entries.count && entries[low].path == path ? entries[low] : nil
    }

    /// The entry at `path` in either section (encrypted entries only once unlocked).
    public func entry(path: String) -> IndexEntry? {
        Self.find(path, in: publicEntries) ?? Self.find(path, in: encryptedEntries)
    }

    /// All known entries, sorted by path (a merge of the two sorted sections).
    public var entries: [IndexEntry] {
        var merged: [IndexEntry] = []
        merged.reserveCapacity(publicEntries.count + encryptedEntries.count)
        var i = 0, j = 0
        while i < publicEntries.count || j < encryptedEntries.count {
            if j == encryptedEntries.count || (i < publicEntries.count && pathPrecedes(publicEntries[i].path, encryptedEntries[j].path)) {
                merged.append(publicEntries[i])
                i += 1
            } else {
                merged.append(encryptedEntries[j])
                j += 1
            }
        }
        return merged
    }

    /// The exact size of the blob of stream `k`.
    public func blobSize(stream k: Int) -> UInt64 {
        BlobHeader.blobSize(layout: layout, chunkCount: streams[k].chunkCount)
    }

    /// The 64 header bytes the blob of stream `k` must start with.
    public func blobHeader(stream k: Int) -> [UInt8] {
        BlobHeader.encode(layout: layout, chunkCount: streams[k].chunkCount, streamId: streams[k].streamId)
    }
}
