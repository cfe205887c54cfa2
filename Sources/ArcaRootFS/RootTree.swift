import ArcaCore
import ArcaShield

/// One inode of the protected root: an index entry and, for a directory, its children.
struct Node: Sendable {
    var entry: IndexEntry
    /// Node number of the parent directory (the root is its own parent).
    var parent: Int
    /// Sorted by name bytes; hardlinks appear here under their own name, pointing at their target.
    var children: [Child]
    var linkCount: UInt32
}

struct Child: Sendable {
    var name: [UInt8]
    var node: Int
}

/// The directory tree of a shield index, with inode numbers: node `i` is inode `i + 1`, so the
/// root (node 0) is FUSE's inode 1. Built once; immutable afterwards, so shared by all threads.
///
/// Directories the index does not list but its paths imply are synthesized (mode 0755, owner 0,
/// time 0); an entry below a non-directory is refused, since the tree could not show it.
/// `mountpoints` names files the runtime will bind-mount over (secret files from the release):
/// those the index lacks are added as empty read-only files (owner 0, time 0).
struct RootTree: Sendable {
    let nodes: [Node]

    init(entries: [IndexEntry], mountpoints: [String] = []) throws {
        var builder = Builder()
        if let root = entries.first, root.path == "/" {
            guard root.type == .directory else {
                throw ArcaError(.invalidFormat, "index entry / is a \(root.type), not a directory")
            }
            builder.add(root, parent: 0, name: [])
        } else {
            builder.add(Builder.synthesizedDirectory("/"), parent: 0, name: [])
        }
        builder.byPath["/"] = 0
        var hardlinks: [IndexEntry] = []
        for entry in entries where entry.path != "/" {
            if entry.type == .hardlink {
                hardlinks.append(entry)  // after every regular file exists: a target may sort later
                continue
            }
            let (parentPath, name) = Builder.split(entry.path)
            let parent = try builder.directory(parentPath, for: entry.path)
            builder.byPath[entry.path] = builder.add(entry, parent: parent, name: name)
        }
        for path in mountpoints where builder.byPath[path] == nil && !hardlinks.contains(where: { $0.path == path }) {
            let (parentPath, name) = Builder.split(path)
            let parent = try builder.directory(parentPath, for: path)
            builder.byPath[path] = builder.add(IndexEntry(path: path, type: .regular, mode: 0o400), parent: parent, name: name)
        }
        for link in hardlinks {
            guard let target = builder.byPath[link.linkTarget], builder.nodes[target].entry.type == .regular else {
                throw ArcaError(.invalidFormat, "index entry \(link.path): hardlink target \(link.linkTarget) is not a regular file")
            }
            let (parentPath, name) = Builder.split(link.path)
            let parent = try builder.directory(parentPath, for: link.path)
            builder.nodes[parent].children.append(Child(name: name, node: target))
            builder.nodes[target].linkCount += 1
        }
        for i in builder.nodes.indices where builder.nodes[i].entry.type == .directory {
            builder.nodes[i].children.sort { $0.name.lexicographicallyPrecedes($1.name) }
            let subdirectories = builder.nodes[i].children.lazy.filter { builder.nodes[$0.node].entry.type == .directory }.count
            builder.nodes[i].linkCount = UInt32(clamping: 2 + subdirectories)
        }
        nodes = builder.nodes
    }

    /// The node of `inode`, or nil for an inode this tree never handed out.
    func node(_ inode: UInt64) -> Int? {
        inode >= 1 && inode <= UInt64(nodes.count) ? Int(inode - 1) : nil
    }

    /// The child `name` of the directory node `parent` (binary search over raw name bytes).
    func child(of parent: Int, named name: UnsafeRawBufferPointer) -> Int? {
        let children = nodes[parent].children
        var low = 0, high = children.count
        while low < high {
            let mid = (low + high) / 2
            if children[mid].name.lexicographicallyPrecedes(name) { low = mid + 1 } else { high = mid }
        }
        return low < children.count && children[low].name.elementsEqual(name) ? children[low].node : nil
    }

    private struct Builder {
        var nodes: [Node] = []
        var byPath: [String: Int] = [:]

        @discardableResult
        mutating func add(_ entry: IndexEntry, parent: Int, name: [UInt8]) -> Int {
            nodes.append(Node(entry: entry, parent: parent, children: [], linkCount: 1))
            let node = nodes.count - 1
            if node != 0 { nodes[parent].children.append(Child(name: name, node: node)) }
            return node
        }

        /// The directory node at `path`, synthesizing it and its missing parents.
        mutating func directory(_ path: String, for child: String) throws -> Int {
            if let node = byPath[path] {
                guard nodes[node].entry.type == .directory else {
                    throw ArcaError(.invalidFormat, "index entry \(child) lies below \(path), which is a \(nodes[node].entry.type), not a directory")
                }
                return node
            }
            let (parentPath, name) = Self.split(path)
            let parent = try directory(parentPath, for: path)
            let node = add(Self.synthesizedDirectory(path), parent: parent, name: name)
            byPath[path] = node
            return node
        }

        /// `/a/b` → (`/a`, `b`); `/a` → (`/`, `a`). Index paths are normalized (FORMAT.md §5).
        static func split(_ path: String) -> (String, [UInt8]) {
            let bytes = Array(path.utf8)
            let slash = bytes.lastIndex(of: UInt8(ascii: "/")) ?? 0
            let parent = slash == 0 ? "/" : String(decoding: bytes[..<slash], as: UTF8.self)
            return (parent, Array(bytes[(slash + 1)...]))
        }

        static func synthesizedDirectory(_ path: String) -> IndexEntry {
            IndexEntry(path: path, type: .directory, mode: 0o755)
        }
    }
}
