import ArcaArchive
import ArcaCore

/// The runtime layer of a sealed image: `arca-init`, its loader and its libraries under `/.arca/`,
/// as one deterministic tar stream.
///
/// Layout (`docs/RUNTIME.md`):
/// ```
/// .arca/bin/arca-init               0755  PT_INTERP patched to /.arca/lib/ld.so
/// .arca/lib/ld-linux-x86-64.so.2    0755  the loader named by arca-init's PT_INTERP
/// .arca/lib/ld.so -> ld-linux-x86-64.so.2
/// .arca/lib/<each DT_NEEDED name>   0644  found recursively in the Debian library directories
/// ```
public enum RuntimeLayer {
    /// Where everything lives in the sealed image.
    public static let directory = "/.arca"
    public static let binaryPath = "/.arca/bin/arca-init"
    public static let libraryDirectory = "/.arca/lib"
    /// The loader path written into the shipped binary's `PT_INTERP`; short enough to fit where
    /// `/lib64/ld-linux-x86-64.so.2` was.
    public static let interpreterPath = "/.arca/lib/ld.so"

    /// How to build the layer.
    public struct Options: Sendable, Equatable {
        /// Modification time of every entry, in seconds since 1970 (e.g. `SOURCE_DATE_EPOCH`).
        public var modificationTime: Int64
        /// Where `DT_NEEDED` libraries are looked up (nil: Debian's directories for the binary's machine).
        public var searchDirectories: [String]?
        /// Largest file (binary, loader or library) read into memory.
        public var fileSizeLimit: Int

        public init(modificationTime: Int64 = 0, searchDirectories: [String]? = nil, fileSizeLimit: Int = 256 << 20) {
            self.modificationTime = modificationTime
            self.searchDirectories = searchDirectories
            self.fileSizeLimit = fileSizeLimit
        }

        /// The defaults with the time taken from `SOURCE_DATE_EPOCH` (0 when unset).
        public static func fromEnvironment() throws -> Options {
            Options(modificationTime: try sourceDateEpoch() ?? 0)
        }
    }

    /// One member of the layer.
    public struct Member: Sendable, Equatable {
        public enum Content: Sendable, Equatable {
            case directory
            case file([UInt8])
            case symlink(String)
        }

        /// Absolute path in the image (`/.arca/lib/libc.so.6`).
        public var path: String
        public var mode: UInt32
        public var content: Content
        /// For files: where on this machine the bytes came from (empty otherwise).
        public var source: String
    }

    /// What was written.
    public struct Summary: Sendable, Equatable {
        /// `sha256:<hex>` of the uncompressed tar stream (the layer's diff ID).
        public var digest: String
        /// Bytes of the tar stream.
        public var size: Int64
        /// Bytes of the files in it (binary, loader, libraries).
        public var contentSize: Int64
        /// The members' paths, in tar order.
        public var paths: [String]
    }

    /// The members of the layer for the `arca-init` binary at `arcaInit`, sorted by path.
    public static func members(arcaInit: String, options: Options = Options()) throws -> [Member] {
        let loaded = try ELFFile.load(path: arcaInit, limit: options.fileSizeLimit)
        let binary = loaded.file
        var bytes = loaded.bytes
        guard binary.isProgram else {
            throw ArcaError(.invalidArgument, "\(arcaInit) is a shared library, not an executable")
        }
        var members: [Member] = [
            Member(path: directory, mode: 0o755, content: .directory, source: ""),
            Member(path: directory + "/bin", mode: 0o755, content: .directory, source: ""),
        ]
        // A static binary (no loader) ships alone.
        guard let interpreter = binary.interpreter else {
            guard binary.needed.isEmpty else {
                throw ArcaError(.invalidFormat, "\(arcaInit) needs libraries (\(binary.needed.joined(separator: ", "))) but names no loader")
            }
            members.append(Member(path: binaryPath, mode: 0o755, content: .file(bytes), source: arcaInit))
            return members
        }
        try checkRunPath(binary)
        let loaderName = ArchivePath.baseName(interpreter)
        let (loader, loaderBytes) = try ELFFile.load(path: interpreter, limit: options.fileSizeLimit)
        guard loader.machine == binary.machine, loader.kind == .sharedObject, loader.interpreter == nil else {
            throw ArcaError(.invalidFormat, "loader \(interpreter) of \(arcaInit) is not a self-contained shared object for machine \(binary.machine)")
        }
        let resolver = LibraryResolver(
            searchDirectories: options.searchDirectories ?? LibraryResolver.debianDirectories(machine: binary.machine),
            fileSizeLimit: options.fileSizeLimit)
        var provided: Set<String> = [loaderName]
        if let soname = loader.soname { provided.insert(soname) }
        let libraries = try resolver.resolve(binary, provided: provided)
        let linkName = ArchivePath.baseName(interpreterPath)
        if libraries.contains(where: { $0.name == linkName }) {
            throw ArcaError(.alreadyExists, "a library named \(linkName) would collide with the loader link \(interpreterPath)")
        }

        try ELFPatch.retarget(&bytes, binary, interpreter: interpreterPath)
        members.append(Member(path: binaryPath, mode: 0o755, content: .file(bytes), source: arcaInit))
        members.append(Member(path: libraryDirectory, mode: 0o755, content: .directory, source: ""))
        members.append(Member(path: libraryDirectory + "/" + loaderName, mode: 0o755, content: .file(loaderBytes), source: interpreter))
        if loaderName != linkName {
            members.append(Member(path: interpreterPath, mode: 0o777, content: .symlink(loaderName), source: ""))
        }
        for library in libraries {
            members.append(Member(path: libraryDirectory + "/" + library.name, mode: 0o644, content: .file(library.bytes), source: library.path))
        }
        return members.sorted { Array($0.path.utf8).lexicographicallyPrecedes(Array($1.path.utf8)) }
    }

    /// Writes the layer for `arcaInit` as a tar stream into `sink` (and finishes it).
    @discardableResult
    public static func write(arcaInit: String, options: Options = Options(), to sink: any ByteSink) throws -> Summary {
        try write(try members(arcaInit: arcaInit, options: options), modificationTime: options.modificationTime, to: sink)
    }

    /// Writes `members` as a deterministic tar stream: root owner, the members' fixed modes,
    /// one modification time, the given order.
    @discardableResult
    public static func write(_ members: [Member], modificationTime: Int64, to sink: any ByteSink) throws -> Summary {
        let hashing = HashingSink(sink)
        let writer = TarWriter(sink: hashing)
        let time = TarTime(seconds: modificationTime)
        var contentSize: Int64 = 0
        for member in members {
            let path = String(member.path.drop { $0 == "/" })
            var entry: TarEntry
            var source: MemorySource?
            switch member.content {
            case .directory:
                entry = TarEntry.directory(path, mode: member.mode)
            case .symlink(let target):
                entry = TarEntry.symlink(path, to: target)
            case .file(let bytes):
                entry = TarEntry.file(path, size: Int64(bytes.count), mode: member.mode)
                source = MemorySource(bytes)
                contentSize += Int64(bytes.count)
            }
            entry.uid = 0
            entry.gid = 0
            entry.userName = "root"
            entry.groupName = "root"
            entry.modificationTime = time
            try writer.append(entry, content: source)
        }
        try writer.finish()
        return Summary(digest: "sha256:" + hashing.hexDigest(), size: hashing.count, contentSize: contentSize,
                       paths: members.map(\.path))
    }

    /// Whether a run-path entry stays inside `/.arca` once shipped (`$ORIGIN` is /.arca/bin for
    /// the binary and /.arca/lib for a library).
    public static func isContainedRunPath(_ entry: String) -> Bool {
        [libraryDirectory, "$ORIGIN", "${ORIGIN}", "$ORIGIN/../lib", "${ORIGIN}/../lib"].contains(entry)
    }

    /// The binary must find its libraries in /.arca/lib, and nowhere outside /.arca.
    static func checkRunPath(_ binary: ELFFile) throws {
        let entries = binary.rpath + binary.runpath
        for entry in entries where !isContainedRunPath(entry) {
            throw ArcaError(.unsupported, "\(binary.name) searches \(entry) for libraries, outside \(directory); link it with the arca-init target's settings (static Swift runtime, rpath \(libraryDirectory))")
        }
        guard entries.contains(libraryDirectory) || binary.needed.isEmpty else {
            throw ArcaError(.unsupported, "\(binary.name) has no \(libraryDirectory) run path, so it would load the base image's libraries; link it with the arca-init target's settings (-rpath \(libraryDirectory))")
        }
    }
}
