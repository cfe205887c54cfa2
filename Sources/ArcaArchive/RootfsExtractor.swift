import ArcaCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Options of `RootfsExtractor`.
public struct ExtractorOptions: Sendable, Equatable {
    /// Create character and block devices (off: such an entry is an `unsupported` error).
    public var allowDeviceNodes: Bool
    /// Set owners from the archive; nil means "when running as root".
    public var preserveOwnership: Bool?

    public init(allowDeviceNodes: Bool = false, preserveOwnership: Bool? = nil) {
        self.allowDeviceNodes = allowDeviceNodes
        self.preserveOwnership = preserveOwnership
    }
}

/// Materializes layers into a directory, like `umoci unpack`: each layer's whiteouts remove
/// what earlier layers made, later entries replace earlier ones.
///
/// Every file-system call is relative to a directory descriptor reached from the target by
/// `openat(…, O_NOFOLLOW)` one component at a time, so a symlink planted by the archive is never
/// followed and nothing outside the target is created, changed or removed, whatever the archive
/// holds. Directory modes and times are set by `finish()`, after their contents exist.
/// The target should be empty or earlier filled by this extractor.
public final class RootfsExtractor {
    public let directory: String
    public let options: ExtractorOptions
    /// Accepted oddities: duplicate entries, xattrs the file system refused, skipped aufs names.
    public private(set) var warnings: [String] = []
    private let root: Descriptor
    private let preserveOwnership: Bool
    private var directoryMetadata: [String: TarEntry] = [:]
    private var created: Set<[UInt8]> = []
    private var createdAncestors: Set<[UInt8]> = []
    private var layerNumber = 0
    /// The last parent directory opened for an entry (tars list siblings together); dropped on
    /// every removal, the only way a cached directory could stop being the one at its path.
    private var cachedParent: (components: [String], descriptor: Descriptor)?

    public init(directory: String, options: ExtractorOptions = ExtractorOptions()) throws {
        self.directory = directory
        self.options = options
        preserveOwnership = options.preserveOwnership ?? (geteuid() == 0)
        root = Descriptor(try checkedCall("open the target directory", directory) {
            open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        })
    }

    /// Extracts one layer (its uncompressed tar stream) on top of what is there.
    public func apply(layer: TarReader) throws {
        layerNumber += 1
        created = []
        createdAncestors = []
        while let entry = try layer.next() {
            try extract(entry, from: layer)
        }
    }

    /// Sets the owner, mode, xattrs and times of directories, deepest first.
    public func finish() throws {
        let paths = directoryMetadata.keys.sorted {
            let (a, b) = (ArchivePath.components($0).count, ArchivePath.components($1).count)
            return a != b ? a > b : Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8))
        }
        for path in paths {
            guard let entry = directoryMetadata[path],
                  let fd = try openDirectory(ArchivePath.components(path)[...], for: entry, create: false) else { continue }
            try applyMetadata(entry, fd: fd.fd)
        }
        directoryMetadata = [:]
    }

    // MARK: entries

    private func extract(_ entry: TarEntry, from layer: TarReader) throws {
        var name: String { ArchivePath.quoted(entry.path) }  // for messages only: made when one is
        let components = ArchivePath.components(entry.path)
        guard let base = components.last else {
            guard entry.type == .directory else {
                throw ArcaError(.unsafePath, "layer \(layerNumber) replaces the root directory with a \(entry.type.rawValue)")
            }
            directoryMetadata[ArchivePath.root] = entry
            return
        }
        let parentComponents = components.dropLast()
        let parentPath = ArchivePath.parent(entry.path)
        switch try Whiteout.classify(baseName: base, path: entry.path) {
        case .reserved:
            warnings.append("layer \(layerNumber): skipped reserved whiteout name \(name)")
            return
        case .opaque:
            guard let parent = try openDirectory(parentComponents, for: entry, create: true) else { return }
            for child in try listDirectory(parent.fd, path: parentPath) {
                try removeLower(parent.fd, name: child, path: ArchivePath.join(parentPath, child))
            }
            return
        case .remove(let target):
            guard let parent = try openDirectory(parentComponents, for: entry, create: false) else { return }
            try removeLower(parent.fd, name: target, path: ArchivePath.join(parentPath, target))
            return
        case .none:
            break
        }
        if entry.type.isDevice, !options.allowDeviceNodes {
            throw ArcaError(.unsupported, "layer \(layerNumber) has device node \(name) (\(entry.deviceMajor):\(entry.deviceMinor)); creating device nodes is off (allowDeviceNodes)")
        }
        guard let parent = try cachedDirectory(parentComponents, for: entry) else { return }
        let key = Array(entry.path.utf8)
        if created.contains(key) {
            warnings.append("layer \(layerNumber) has \(name) more than once; the later entry wins")
        }
        if let existing = try statAt(parent.fd, base, path: entry.path) {
            if !(fileType(existing.st_mode) == S_IFDIR && entry.type == .directory) {
                try removeTree(parent.fd, name: base, path: entry.path)
            }
        }
        switch entry.type {
        case .regular:
            let fd = Descriptor(try checkedCall("create", entry.path) {
                openat(parent.fd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            })
            let content = layer.contentSource()
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: streamChunkSize, alignment: 16)
            defer { buffer.deallocate() }
            while true {
                let n = try content.read(into: buffer)
                if n == 0 { break }
                try writeAll(fd.fd, UnsafeRawBufferPointer(rebasing: buffer[..<n]), path: entry.path)
            }
            try applyMetadata(entry, fd: fd.fd)
        case .directory:
            if try statAt(parent.fd, base, path: entry.path) == nil {
                try checkedCall("create directory", entry.path) { mkdirat(parent.fd, base, 0o700) }
            }
            directoryMetadata[entry.path] = entry
        case .symlink:
            try checkedCall("create symlink", entry.path) { symlinkat(entry.linkTarget, parent.fd, base) }
            try applyPathMetadata(entry, parent: parent.fd, name: base, chmod: false)
        case .hardlink:
            try link(entry, parent: parent.fd, name: base)
        case .characterDevice, .blockDevice, .fifo:
            let kind: mode_t = entry.type == .fifo ? S_IFIFO : (entry.type == .characterDevice ? S_IFCHR : S_IFBLK)
            let device = entry.type == .fifo ? 0 : makeDevice(major: entry.deviceMajor, minor: entry.deviceMinor)
            try checkedCall("create node", entry.path) { mknodat(parent.fd, base, kind | 0o600, device) }
            try applyPathMetadata(entry, parent: parent.fd, name: base, chmod: true)
        }
        created.insert(key)
        var ancestor = parentPath
        while ancestor != ArchivePath.root, createdAncestors.insert(Array(ancestor.utf8)).inserted {
            ancestor = ArchivePath.parent(ancestor)
        }
    }

    private func link(_ entry: TarEntry, parent: Int32, name: String) throws {
        let quoted = ArchivePath.quoted(entry.path)
        let targetQuoted = ArchivePath.quoted(entry.linkTarget)
        let targetComponents = ArchivePath.components(entry.linkTarget)
        guard let targetName = targetComponents.last else {
            throw ArcaError(.invalidFormat, "hardlink \(quoted) points to the root directory")
        }
        let missing = ArcaError(.notFound, "hardlink \(quoted) points to \(targetQuoted), which does not exist")
        guard let targetParent = try openDirectory(targetComponents.dropLast(), for: entry, create: false, linkTarget: true),
              let info = try statAt(targetParent.fd, targetName, path: entry.linkTarget) else { throw missing }
        guard fileType(info.st_mode) == S_IFREG else {
            throw ArcaError(.invalidFormat, "hardlink \(quoted) points to \(targetQuoted), which is not a regular file")
        }
        try checkedCall("create hardlink", entry.path) { linkat(targetParent.fd, targetName, parent, name, 0) }
    }

    // MARK: directories

    /// Opens the directory at `components` below the target, one `O_NOFOLLOW` step at a time,
    /// creating missing ones (0755) when `create` is set. A symlink on the way is an escape.
    private func openDirectory(_ components: ArraySlice<String>, for entry: TarEntry, create: Bool,
                               linkTarget: Bool = false) throws -> Descriptor? {
        var current = Descriptor(try checkedCall("duplicate the descriptor of", directory) { dup(root.fd) })
        var walked = ArchivePath.root
        for component in components {
            walked = ArchivePath.join(walked, component)
            var attempt = 0
            while true {
                attempt += 1
                do {
                    let fd = try systemCall { openat(current.fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
                    current = Descriptor(fd)
                    break
                } catch {
                    switch error.code {
                    case ENOENT where create && attempt == 1:
                        try checkedCall("create directory", walked) { mkdirat(current.fd, component, 0o755) }
                        try checkedCall("set the mode of", walked) { fchmodat(current.fd, component, 0o755, 0) }
                        continue
                    case ENOENT:
                        return nil
                    case ENOTDIR where (try statAt(current.fd, component, path: walked)).map({ fileType($0.st_mode) == S_IFLNK }) == true,
                         ELOOP:
                        // With O_DIRECTORY, Linux reports a symlink as ENOTDIR rather than ELOOP.
                        let what = linkTarget ? "hardlink \(ArchivePath.quoted(entry.path)) points" : "entry \(ArchivePath.quoted(entry.path)) goes"
                        throw ArcaError(.unsafePath, "\(what) through the symlink \(ArchivePath.quoted(walked))")
                    case ENOTDIR:
                        throw ArcaError(.invalidFormat, "entry \(ArchivePath.quoted(entry.path)) needs \(ArchivePath.quoted(walked)) to be a directory")
                    default:
                        throw ArcaError(.io, "cannot open \(ArchivePath.quoted(walked)): \(error)", cause: error)
                    }
                }
            }
        }
        return current
    }

    private func cachedDirectory(_ components: ArraySlice<String>, for entry: TarEntry) throws -> Descriptor? {
        if let cachedParent, cachedParent.components.elementsEqual(components) { return cachedParent.descriptor }
        let descriptor = try openDirectory(components, for: entry, create: true)
        cachedParent = descriptor.map { (Array(components), $0) }
        return descriptor
    }

    /// Removes `name` as a whiteout does: what earlier layers made goes, what this layer made
    /// (and the directories leading to it) stays.
    private func removeLower(_ parent: Int32, name: String, path: String) throws {
        let key = Array(path.utf8)
        guard let info = try statAt(parent, name, path: path) else { return }
        let keep = created.contains(key) || createdAncestors.contains(key)
        guard keep else { return try removeTree(parent, name: name, path: path) }
        guard fileType(info.st_mode) == S_IFDIR else { return }
        let fd = Descriptor(try checkedCall("open", path) { openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) })
        for child in try listDirectory(fd.fd, path: path) {
            try removeLower(fd.fd, name: child, path: ArchivePath.join(path, child))
        }
    }

    /// Removes a file or a whole tree below `parent`, never following a symlink.
    private func removeTree(_ parent: Int32, name: String, path: String) throws {
        cachedParent = nil
        guard let info = try statAt(parent, name, path: path) else { return }
        if fileType(info.st_mode) == S_IFDIR {
            let fd = Descriptor(try checkedCall("open", path) { openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) })
            for child in try listDirectory(fd.fd, path: path) {
                try removeTree(fd.fd, name: child, path: ArchivePath.join(path, child))
            }
            try checkedCall("remove directory", path) { unlinkat(parent, name, AT_REMOVEDIR) }
            let prefix = path + "/"
            for key in directoryMetadata.keys where key == path || key.hasPrefix(prefix) { directoryMetadata[key] = nil }
        } else {
            try checkedCall("remove", path) { unlinkat(parent, name, 0) }
        }
    }

    // MARK: metadata

    private func times(_ entry: TarEntry) -> [timespec] {
        let time = timespec(tv_sec: Int(entry.modificationTime.seconds), tv_nsec: Int(entry.modificationTime.nanoseconds))
        return [time, time]
    }

    /// Owner, mode (after chown, which clears setuid), xattrs, then times of an open file or directory.
    private func applyMetadata(_ entry: TarEntry, fd: Int32) throws {
        if preserveOwnership {
            try checkedCall("set the owner of", entry.path) { fchown(fd, uid_t(entry.uid), gid_t(entry.gid)) }
        }
        try checkedCall("set the mode of", entry.path) { fchmod(fd, mode_t(entry.mode & 0o7777)) }
        for name in entry.xattrs.keys.sorted() {
            do {
                try ExtendedAttributes.set(fd, name: name, value: entry.xattrs[name] ?? [])
            } catch {
                warnings.append("skipped xattr \(name) on \(ArchivePath.quoted(entry.path)): \(error)")
            }
        }
        let stamps = times(entry)
        try checkedCall("set the times of", entry.path) { futimens(fd, stamps) }
    }

    /// Metadata of a symlink, device or fifo, by name in its parent, never following a link.
    private func applyPathMetadata(_ entry: TarEntry, parent: Int32, name: String, chmod: Bool) throws {
        if preserveOwnership {
            try checkedCall("set the owner of", entry.path) {
                fchownat(parent, name, uid_t(entry.uid), gid_t(entry.gid), AT_SYMLINK_NOFOLLOW)
            }
        }
        if chmod {
            try checkedCall("set the mode of", entry.path) { fchmodat(parent, name, mode_t(entry.mode & 0o7777), 0) }
        }
        if !entry.xattrs.isEmpty {
            warnings.append("skipped the xattrs of \(entry.type.rawValue) \(ArchivePath.quoted(entry.path))")
        }
        let stamps = times(entry)
        try checkedCall("set the times of", entry.path) { utimensat(parent, name, stamps, AT_SYMLINK_NOFOLLOW) }
    }
}
