import ArcaArchive
import ArcaCore
import ArcaCrypto
import ArcaShield

/// The shield of the merged tree: its index, and which layers' streams it uses.
struct BuiltShield {
    var index: SealedIndex
    /// The layers whose streams the index names, in stream-table order (one blob layer each).
    var streamLayers: [Int]
    var encryptedFiles: Int
    var authenticatedFiles: Int
}

/// Turns the merged tree into index entries (authenticated or encrypted by the policy). The
/// encrypted content was sealed per layer in pass one: an encrypted file names the stream of
/// the layer its bytes came from.
struct ShieldBuilder {
    let policy: ProtectionPolicy
    let masterKey: MasterKey
    let chunkLayout: ChunkLayout

    func build(_ rootfs: Rootfs, records: [LayerRecord]) throws -> BuiltShield {
        var entries: [IndexEntry] = []
        var streams: [StreamInfo] = []
        var streamLayers: [Int] = []
        var streamOfLayer: [Int: UInt32] = [:]
        var streamOfId: [Hash256: UInt32] = [:]
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
                let record = records[layer]
                if protection == .encrypted {
                    guard let streamOffset = record.streamOffsets[offset] else {
                        throw ArcaError(.invalidFormat, "\(path) is encrypted but its bytes were not set aside (it was stored outside the encrypted region and linked into it)")
                    }
                    if entry.size > 0 {
                        guard let stream = record.stream else {
                            throw ArcaError(.invalidFormat, "\(path): layer \(layer + 1) has no stream for its encrypted bytes")
                        }
                        if streamOfLayer[layer] == nil {
                            // Equal streams (same bytes under the same key) are one stream, one blob.
                            if let known = streamOfId[stream.streamId] {
                                streamOfLayer[layer] = known
                            } else {
                                let number = UInt32(streams.count)
                                streams.append(stream)
                                streamLayers.append(layer)
                                streamOfId[stream.streamId] = number
                                streamOfLayer[layer] = number
                            }
                        }
                        entry.stream = streamOfLayer[layer]!
                        entry.streamOffset = streamOffset
                    }
                } else {
                    guard let chunkDigests = record.digests[offset] else {
                        throw ArcaError(.invalidFormat, "\(path) is authenticated but its bytes lie in the encrypted region (a hardlink across the boundary); move it or change the policy")
                    }
                    entry.chunkDigests = chunkDigests
                }
            }
            entries.append(entry)
        }
        addMountpoints(to: &entries)
        entries.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        let index = try ShieldIndexBuilder.build(entries: entries, streams: streams, masterKey: masterKey, chunkSize: chunkLayout.chunkSize)
        return BuiltShield(index: index, streamLayers: streamLayers,
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
