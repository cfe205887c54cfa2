import ArcaArchive
import ArcaCore
import FoundationEssentials

/// What `arca inspect` reports about an image.
public struct ImageReport: Codable, Sendable {
    public struct TreeEntry: Codable, Sendable {
        public var path: String
        public var type: String
        public var mode: String
        public var uid: Int
        public var gid: Int
        public var size: Int64
        public var linkTarget: String?
    }

    public var name: String
    public var manifestDigest: Digest
    public var manifestMediaType: String
    public var indexDigest: Digest?
    public var configDigest: Digest
    public var platform: String
    public var created: String?
    public var entrypoint: [String]?
    public var cmd: [String]?
    public var env: [String]
    public var user: String?
    public var workingDir: String?
    public var exposedPorts: [String]
    public var volumes: [String]
    public var labels: [String: String]
    public var layers: [LayerFacts]
    public var totalSize: Int64
    public var totalUncompressedSize: Int64
    public var totalEntries: Int
    public var tree: [TreeEntry]?

    public func jsonBytes() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return Array(try encoder.encode(self))
    }

    /// The human-readable report.
    public func text() -> String {
        var out = ""
        func line(_ key: String, _ value: String) { out += key.padding(toLength: 12) + value + "\n" }
        func quoted(_ list: [String]?) -> String {
            guard let list else { return "(none)" }
            return "[" + list.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
        }
        line("Image", name)
        line("Manifest", "\(manifestDigest) (\(manifestMediaType))")
        if let indexDigest { line("Index", indexDigest.description) }
        line("Config", configDigest.description)
        line("Platform", platform)
        if let created { line("Created", created) }
        line("Entrypoint", quoted(entrypoint))
        line("Cmd", quoted(cmd))
        line("User", user.flatMap { $0.isEmpty ? nil : $0 } ?? "(image default: root)")
        line("WorkingDir", workingDir.flatMap { $0.isEmpty ? nil : $0 } ?? "/")
        for (index, variable) in env.enumerated() { line(index == 0 ? "Env" : "", variable) }
        if !exposedPorts.isEmpty { line("Ports", exposedPorts.joined(separator: ", ")) }
        if !volumes.isEmpty { line("Volumes", volumes.joined(separator: ", ")) }
        for (index, key) in labels.keys.sorted().enumerated() { line(index == 0 ? "Labels" : "", "\(key)=\(labels[key]!)") }
        out += "\nLayers\n"
        out += "  #   DIGEST               SIZE        UNPACKED    ENTRIES  MEDIA TYPE\n"
        for (index, layer) in layers.enumerated() {
            out += "  " + String(index + 1).padding(toLength: 4) + layer.digest.short.padding(toLength: 21)
                + formatBytes(layer.size).padding(toLength: 12) + formatBytes(layer.uncompressedSize).padding(toLength: 12)
                + String(layer.entries).padding(toLength: 9) + layer.mediaType + "\n"
        }
        out += "Total: \(layers.count) layer\(layers.count == 1 ? "" : "s"), \(formatBytes(totalSize)) stored, "
            + "\(formatBytes(totalUncompressedSize)) unpacked, \(totalEntries) entries\n"
        if let tree {
            out += "\nTree (\(tree.count) entries)\n"
            for entry in tree {
                let owner = "\(entry.uid):\(entry.gid)"
                out += "  \(entry.mode) \(owner.padding(toLength: 11)) \(String(entry.size).padding(toLength: 10)) \(entry.path == "." ? "/" : "/" + entry.path)"
                    + (entry.linkTarget.map { " -> \($0)" } ?? "") + "\n"
            }
        }
        return out
    }
}

extension String {
    func padding(toLength length: Int) -> String {
        count >= length ? self + " " : self + String(repeating: " ", count: length - count)
    }
}

/// Builds an `ImageReport`: reads every layer (verifying it) and, if asked, the flattened tree.
public struct ImageInspector {
    public var scanner: LayerScanner

    public init(scanner: LayerScanner = LayerScanner()) {
        self.scanner = scanner
    }

    public func inspect(_ image: ResolvedImage, from source: any ImageSource, withTree: Bool) throws -> ImageReport {
        let facts: [LayerFacts]
        var tree: [ImageReport.TreeEntry]?
        if withTree {
            let (layerFacts, rootfs) = try scanner.loadRootfs(of: image, from: source)
            facts = layerFacts
            tree = rootfs.items.map { item in
                let node = item.node
                return ImageReport.TreeEntry(path: item.path, type: node.type.rawValue, mode: modeString(node.type, node.mode),
                                             uid: node.uid, gid: node.gid, size: node.size,
                                             linkTarget: node.linkTarget.isEmpty ? nil : node.linkTarget)
            }
        } else {
            facts = try scanner.scanAll(of: image, from: source, parallelism: ProcessInfoLite.activeProcessorCount)
        }
        let container = image.config.config
        return ImageReport(
            name: source.name, manifestDigest: image.manifestDescriptor.digest,
            manifestMediaType: image.manifestDescriptor.mediaType, indexDigest: image.indexDescriptor?.digest,
            configDigest: image.manifest.config.digest, platform: image.config.platform.description,
            created: image.config.created, entrypoint: container?.entrypoint, cmd: container?.cmd,
            env: container?.env ?? [], user: container?.user, workingDir: container?.workingDir,
            exposedPorts: (container?.exposedPorts?.keys).map { $0.sorted() } ?? [],
            volumes: (container?.volumes?.keys).map { $0.sorted() } ?? [],
            labels: container?.labels ?? [:],
            layers: facts,
            totalSize: facts.reduce(0) { $0 + $1.size },
            totalUncompressedSize: facts.reduce(0) { $0 + $1.uncompressedSize },
            totalEntries: facts.reduce(0) { $0 + $1.entries },
            tree: tree)
    }
}

/// `drwxr-xr-x`-style mode text.
func modeString(_ type: TarEntry.EntryType, _ mode: UInt32) -> String {
    let kind: Character = switch type {
    case .directory: "d"
    case .symlink: "l"
    case .characterDevice: "c"
    case .blockDevice: "b"
    case .fifo: "p"
    default: "-"
    }
    var text = String(kind)
    let letters: [Character] = ["r", "w", "x"]
    for shift in stride(from: 8, through: 0, by: -1) {
        text.append(mode & (1 << UInt32(shift)) != 0 ? letters[(8 - shift) % 3] : "-")
    }
    return text
}
