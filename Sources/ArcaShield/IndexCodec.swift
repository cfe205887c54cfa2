import ArcaCore
import ArcaCrypto

/// Builds the canonical index bytes (FORMAT.md §5) from validated, sorted entries.
enum IndexCodec {
    static func build(layout: ChunkLayout, publicEntries: [IndexEntry], encryptedEntries: [IndexEntry],
                      streams: [StreamInfo], keys: KeySchedule) throws -> [UInt8] {
        var publicSection = ByteWriter()
        publicSection.u32(UInt32(publicEntries.count))
        for entry in publicEntries { EntryCodec.encode(entry, to: &publicSection) }

        var plaintext: [UInt8] = []
        if !encryptedEntries.isEmpty || !streams.isEmpty {
            var body = ByteWriter()
            body.u64(0) // U, patched below
            for stream in streams { body.u64(stream.size) }
            body.u32(UInt32(encryptedEntries.count))
            for entry in encryptedEntries { EntryCodec.encode(entry, to: &body) }
            let used = body.bytes.count
            plaintext = body.bytes
            plaintext.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(used).bigEndian, Array.init))
            plaintext.append(contentsOf: repeatElement(0, count: ShieldFormat.paddedLength(used) - used))
        }
        let encryptedLength = plaintext.isEmpty ? 0 : 32 + plaintext.count + ChunkCodec.tagSize
        let header = IndexHeader(layout: layout, publicLength: UInt64(publicSection.bytes.count),
                                 encryptedLength: UInt64(encryptedLength),
                                 streams: streams.map { ($0.chunkCount, $0.streamId) })
        var index = header.encode() + publicSection.bytes
        guard index.count + encryptedLength <= ShieldFormat.maximumIndexSize else {
            throw ArcaError(.limitExceeded, "the index would be \(formatBytes(index.count + encryptedLength)), over the \(formatBytes(ShieldFormat.maximumIndexSize)) limit")
        }
        if !plaintext.isEmpty {
            let secretId = index.withUnsafeBytes { aad in plaintext.withUnsafeBytes { keys.secretId(additionalData: aad, plaintext: $0) } }
            let sealed = try IndexCipher.seal(plaintext: plaintext, additionalData: index, key: keys.indexKey(secretId: secretId))
            index += secretId.bytes
            index += sealed
        }
        return index
    }
}
