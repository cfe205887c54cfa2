import ArcaArchive
import ArcaCore
import ArcaCrypto
import ArcaShield

/// The sealed form of the merged tree: the shield index and, when something is encrypted, the blob.
struct BuiltShield {
    var index: SealedIndex
    /// The blob file (in the work directory), or nil when nothing is encrypted.
    var blobPath: String?
    var encryptedFiles: Int
    var authenticatedFiles: Int
}

/// Turns the merged tree into index entries (authenticated or encrypted by the policy) and seals
/// the encrypted content, with the chunks sealed on every core (the result does not depend on it).
struct ShieldBuilder {
    let policy: ProtectionPolicy
    let masterKey: MasterKey
    let chunkLayout: ChunkLayout
    let workDirectory: String
    let parallelism: Int

    func build(_ rootfs: Rootfs, digests: [ContentKey: [Hash256]], spills: [ContentKey: String]) throws -> BuiltShield {
        var entries: [IndexEntry] = []
        var contents: [String: FileBytes] = [:]
        for item in rootfs.items {
            let path = absolute(item.path)
            let node = item.node
            let protection: ProtectionClass = policy.classify(path) == .encrypted ? .encrypted : .authenticated
            var entry = IndexEntry(
                path: path, type: try Self.entryType(node.type, path: path), protection: protection,
                mode: node.mode, uid: UInt32(clamping: node.uid), gid: UInt32(clamping: node.gid),
                mtime: Timestamp(seconds: node.modificationTime.seconds, nanoseconds: UInt32(clamping: node.modificationTime.nanoseconds)),
                size: node.type == .regular ? UInt64(node.size) : 0, linkTarget: node.type == .symlink ? node.linkTarget : "",
                deviceMajor: node.deviceMajor, deviceMinor: node.deviceMinor,
                xattrs: node.xattrs.keys.sorted().map { ExtendedAttribute(name: $0, value: node.xattrs[$0]!) })
            if node.type == .regular, case .layer(let layer, let offset, _) = node.content {
                let key = ContentKey(layer: layer, offset: offset)
                if protection == .encrypted {
                    guard let spill = spills[key] else {
                        throw ArcaError(.invalidFormat, "\(path) is encrypted but its bytes were not set aside (it was stored outside the encrypted region and linked into it)")
                    }
                    contents[path] = try FileBytes(path: spill)
                } else {
                    guard let chunkDigests = digests[key] else {
                        throw ArcaError(.invalidFormat, "\(path) is authenticated but its bytes lie in the encrypted region (a hardlink across the boundary); move it or change the policy")
                    }
                    entry.chunkDigests = chunkDigests
                }
            }
            entries.append(entry)
        }
        addMountpoints(to: &entries)
        entries.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        return try seal(entries, contents: contents)
    }

    private func seal(_ entries: [IndexEntry], contents: [String: FileBytes]) throws -> BuiltShield {
        let plan = try ShieldPlan(entries: entries, chunkSize: chunkLayout.chunkSize)
        let chunkSize = chunkLayout.chunkSize
        let read: (IndexEntry, UInt64, UnsafeMutableRawBufferPointer) throws -> Void = { entry, offset, destination in
            guard let content = contents[entry.path] else { throw ArcaError(.notFound, "no content for \(entry.path)") }
            try content.readExactly(at: offset, into: destination, what: "content of \(entry.path)")
        }
        // Chunks are independent: hash them, then seal them, in batches spread over the cores.
        let batch = 64
        let batches = Int((plan.chunkCount + UInt64(batch) - 1) / UInt64(batch))
        let chunkDigests = try Parallel.map(batches, width: parallelism) { b -> [Hash256] in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
            defer { buffer.deallocate() }
            return try (UInt64(b * batch)..<min(UInt64((b + 1) * batch), plan.chunkCount)).map { j in
                try plan.assembleChunk(j, into: buffer, read: read)
                return plan.chunkDigest(UnsafeRawBufferPointer(buffer))
            }
        }.flatMap { $0 }
        let sealer = try plan.sealer(masterKey: masterKey, chunkDigests: chunkDigests)
        var blobPath: String?
        if sealer.hasBlob {
            let path = workDirectory + "/shield.blob"
            let sink = try FileSink(path: path, permissions: [.ownerReadWrite], exclusive: true)
            try sink.write(sealer.blobHeader)
            for start in stride(from: 0, to: batches, by: parallelism * 4) {
                let sealedBatches = try Parallel.map(min(parallelism * 4, batches - start), width: parallelism) { offset -> [UInt8] in
                    let b = start + offset
                    let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
                    defer { plain.deallocate() }
                    let range = UInt64(b * batch)..<min(UInt64((b + 1) * batch), plan.chunkCount)
                    var out = [UInt8](repeating: 0, count: range.count * sealer.sealedChunkSize)
                    try out.withUnsafeMutableBytes { all in
                        for (position, j) in range.enumerated() {
                            try plan.assembleChunk(j, into: plain, read: read)
                            let slot = UnsafeMutableRawBufferPointer(rebasing: all[(position * sealer.sealedChunkSize)...].prefix(sealer.sealedChunkSize))
                            try sealer.seal(chunk: j, plaintext: UnsafeRawBufferPointer(plain), into: slot)
                        }
                    }
                    return out
                }
                for sealed in sealedBatches { try sink.write(sealed) }
            }
            try sink.finish()
            blobPath = path
        }
        return BuiltShield(index: try sealer.makeIndex(), blobPath: blobPath,
                           encryptedFiles: entries.filter(\.isEncryptedRegular).count,
                           authenticatedFiles: entries.filter { $0.type == .regular && $0.protection == .authenticated }.count)
    }

    /// arca-init mounts /proc, /dev, /sys and the policy's ephemeral, volume and host paths onto the
    /// read-only protected root, so each needs a mountpoint in the index: missing ones (and their
    /// parents) are added as empty root-owned directories — an empty file for a host file path.
    private func addMountpoints(to entries: inout [IndexEntry]) {
        var existing = Set(entries.map(\.path))
        var mountpoints: [(path: String, directory: Bool)] = ["/proc", "/dev", "/sys"].map { ($0, true) }
        for rule in policy.rules {
            switch rule.pathClass {
            case .ephemeral, .volume: mountpoints.append((rule.path, true))
            case .host: mountpoints.append((rule.path, rule.path.hasSuffix("/") || !rule.path.split(separator: "/").last!.contains(".")))
            case .authenticated, .encrypted: continue
            }
        }
        for (path, directory) in mountpoints where !existing.contains(path) {
            var parent = ""
            for component in path.split(separator: "/").dropLast() {
                parent += "/" + component
                if existing.insert(parent).inserted {
                    entries.append(IndexEntry(path: parent, type: .directory, protection: protection(parent), mode: 0o755))
                }
            }
            existing.insert(path)
            entries.append(IndexEntry(path: path, type: directory ? .directory : .regular, protection: protection(path),
                                      mode: directory ? 0o755 : 0o644))
        }
    }

    private func protection(_ path: String) -> ProtectionClass {
        policy.classify(path) == .encrypted ? .encrypted : .authenticated
    }

    static func entryType(_ type: TarEntry.EntryType, path: String) throws -> EntryType {
        switch type {
        case .regular: .regular
        case .directory: .directory
        case .symlink: .symlink
        case .characterDevice: .characterDevice
        case .blockDevice: .blockDevice
        case .fifo: .fifo
        case .hardlink: throw ArcaError(.invalidFormat, "\(path) is an unresolved hardlink in the merged tree")
        }
    }
}
