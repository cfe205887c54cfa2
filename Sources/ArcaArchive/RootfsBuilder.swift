import ArcaCore

/// Options of `RootfsBuilder`.
public struct RootfsOptions: Sendable, Equatable {
    /// Keep character and block devices as metadata (OCI images may carry `/dev` entries).
    public var allowDeviceNodes: Bool
    /// Refuse a path that appears twice in one layer instead of letting the later entry win.
    public var refuseDuplicateEntries: Bool

    public init(allowDeviceNodes: Bool = true, refuseDuplicateEntries: Bool = false) {
        self.allowDeviceNodes = allowDeviceNodes
        self.refuseDuplicateEntries = refuseDuplicateEntries
    }
}

/// Builds the merged root filesystem of an image from its layers, without touching a disk:
/// OCI whiteouts, replacement of earlier entries, implicit parents, hardlink resolution.
/// Symlinks are data and never followed; an entry through a symlinked parent is refused.
public final class RootfsBuilder {
    public let options: RootfsOptions
    /// Things that were accepted but are worth telling (duplicate entries, skipped aufs names).
    public private(set) var warnings: [String] = []
    private let root = TreeNode(node: .implicitDirectory, generation: 0, explicit: false)
    private var generation = 0
    private var nextGroup = 1

    public init(options: RootfsOptions = RootfsOptions()) {
        self.options = options
    }

    /// Applies one layer (its uncompressed tar stream) on top of the layers applied before.
    /// `layerIndex` is recorded in each file's `ContentLocation`.
    public func apply(layer: TarReader, layerIndex: Int) throws {
        beginLayer()
        while let entry = try layer.next() {
            try apply(entry, dataOffset: layer.dataOffset, layerIndex: layerIndex)
        }
    }

    /// Starts a new layer for entries given one by one with `apply(_:dataOffset:layerIndex:)`
    /// (whiteouts only hide what earlier layers put there).
    public func beginLayer() {
        generation += 1
    }

    /// The merged tree in walk order.
    public func rootfs() -> Rootfs {
        var items: [RootfsItem] = []
        func walk(_ node: TreeNode, path: String) {
            items.append(RootfsItem(path: path, node: node.node))
            for key in node.children.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                guard let child = node.children[key] else { continue }
                walk(child, path: ArchivePath.join(path, String(decoding: key, as: UTF8.self)))
            }
        }
        walk(root, path: ArchivePath.root)
        // Renumber hardlink groups in walk order and drop groups left with one member.
        var members: [Int: Int] = [:]
        for item in items { if let group = item.node.hardlinkGroup { members[group, default: 0] += 1 } }
        var renumbered: [Int: Int] = [:]
        for position in items.indices {
            guard let group = items[position].node.hardlinkGroup else { continue }
            if members[group, default: 0] < 2 {
                items[position].node.hardlinkGroup = nil
            } else {
                if renumbered[group] == nil { renumbered[group] = renumbered.count + 1 }
                items[position].node.hardlinkGroup = renumbered[group]
            }
        }
        return Rootfs(items: items)
    }

    // MARK: entries

    /// Applies one entry of layer `layerIndex` whose data starts at `dataOffset` in that layer's tar stream
    /// (for callers that read the tar themselves), after `beginLayer()`; entries come in stream order.
    public func apply(_ entry: TarEntry, dataOffset: Int64, layerIndex: Int) throws {
        var name: String { ArchivePath.quoted(entry.path) }  // for messages only: made when one is
        let components = ArchivePath.components(entry.path)
        guard let base = components.last else {
            guard entry.type == .directory else {
                throw ArcaError(.unsafePath, "layer \(layerIndex) replaces the root directory with a \(entry.type.rawValue)")
            }
            root.node = RootfsNode(entry: entry, content: .none)
            root.generation = generation
            root.explicit = true
            return
        }
        let parentComponents = components.dropLast()
        switch try Whiteout.classify(baseName: base, path: entry.path) {
        case .reserved:
            warnings.append("layer \(layerIndex): skipped reserved whiteout name \(name)")
            return
        case .opaque:
            let directory = try descend(parentComponents, entry: entry, create: true)
            for (key, child) in directory?.children ?? [:] where !pruneLower(child) { directory?.children[key] = nil }
            return
        case .remove(let target):
            guard let directory = try descend(parentComponents, entry: entry, create: false) else { return }
            let key = Array(target.utf8)
            if let child = directory.children[key], !pruneLower(child) { directory.children[key] = nil }
            return
        case .none:
            break
        }
        guard let parent = try descend(parentComponents, entry: entry, create: true) else { return }
        let key = Array(base.utf8)
        let existing = parent.children[key]
        if let existing, existing.generation == generation, existing.explicit {
            if options.refuseDuplicateEntries {
                throw ArcaError(.invalidFormat, "layer \(layerIndex) has \(name) more than once")
            }
            warnings.append("layer \(layerIndex) has \(name) more than once; the later entry wins")
        }

        var node: RootfsNode
        switch entry.type {
        case .hardlink:
            node = try resolveHardlink(entry, layerIndex: layerIndex)
        case .characterDevice, .blockDevice:
            guard options.allowDeviceNodes else {
                throw ArcaError(.unsupported, "layer \(layerIndex) has device node \(name) (\(entry.deviceMajor):\(entry.deviceMinor)); device nodes are refused by allowDeviceNodes = false")
            }
            node = RootfsNode(entry: entry, content: .none)
        case .regular:
            node = RootfsNode(entry: entry, content: entry.size > 0 ? .layer(index: layerIndex, offset: dataOffset, size: entry.size) : .none)
        default:
            node = RootfsNode(entry: entry, content: .none)
        }

        if let existing, existing.node.type == .directory, node.type == .directory {
            existing.node = node
            existing.generation = generation
            existing.explicit = true
        } else {
            parent.children[key] = TreeNode(node: node, generation: generation, explicit: true)
        }
    }

    private func resolveHardlink(_ entry: TarEntry, layerIndex: Int) throws -> RootfsNode {
        var name: String { ArchivePath.quoted(entry.path) }
        var targetName: String { ArchivePath.quoted(entry.linkTarget) }
        var node = root
        for component in ArchivePath.components(entry.linkTarget) {
            guard node.node.type != .symlink else {
                throw ArcaError(.unsafePath, "hardlink \(name) in layer \(layerIndex) points through a symlink to \(targetName)")
            }
            guard let child = node.children[Array(component.utf8)] else {
                throw ArcaError(.notFound, "hardlink \(name) in layer \(layerIndex) points to \(targetName), which does not exist")
            }
            node = child
        }
        guard node.node.type == .regular else {
            throw ArcaError(.invalidFormat, "hardlink \(name) in layer \(layerIndex) points to \(targetName), a \(node.node.type.rawValue), not a regular file")
        }
        if node.node.hardlinkGroup == nil {
            node.node.hardlinkGroup = nextGroup
            nextGroup += 1
        }
        return node.node
    }

    /// The directory node at `components`, creating missing ones (implicit: root-owned, 0755)
    /// when `create` is set; nil when missing and not creating. Refuses walking through symlinks.
    private func descend(_ components: ArraySlice<String>, entry: TarEntry, create: Bool) throws -> TreeNode? {
        var node = root
        var walked = ArchivePath.root
        for component in components {
            walked = ArchivePath.join(walked, component)
            let key = Array(component.utf8)
            guard let child = node.children[key] else {
                guard create else { return nil }
                let made = TreeNode(node: .implicitDirectory, generation: generation, explicit: false)
                node.children[key] = made
                node = made
                continue
            }
            switch child.node.type {
            case .directory:
                node = child
            case .symlink:
                throw ArcaError(.unsafePath, "entry \(ArchivePath.quoted(entry.path)) goes through the symlink \(ArchivePath.quoted(walked))")
            default:
                throw ArcaError(.invalidFormat, "entry \(ArchivePath.quoted(entry.path)) needs \(ArchivePath.quoted(walked)) to be a directory, but it is a \(child.node.type.rawValue)")
            }
        }
        return node
    }

    /// Removes what lower layers put under `node`, keeping what the current layer made (and the
    /// directories leading to it). Returns whether `node` itself stays.
    private func pruneLower(_ node: TreeNode) -> Bool {
        if node.node.type == .directory {
            for (key, child) in node.children where !pruneLower(child) { node.children[key] = nil }
        }
        if node.generation == generation { return true }
        return node.node.type == .directory && !node.children.isEmpty
    }
}

/// A mutable node of the tree being built; `generation` is the layer application that made it.
private final class TreeNode {
    var node: RootfsNode
    var children: [[UInt8]: TreeNode] = [:]
    var generation: Int
    var explicit: Bool

    init(node: RootfsNode, generation: Int, explicit: Bool) {
        self.node = node
        self.generation = generation
        self.explicit = explicit
    }
}
