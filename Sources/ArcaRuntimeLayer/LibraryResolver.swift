import ArcaCore

/// A shared library found for a `DT_NEEDED` name.
public struct SharedLibrary: Sendable, Equatable {
    /// The `DT_NEEDED` name, which is also its file name under `/.arca/lib`.
    public var name: String
    /// Where it was found on this machine (before following symlinks).
    public var path: String
    public var bytes: [UInt8]
}

/// Finds every library an ELF file needs, recursively, the way glibc's loader would on this
/// machine: by `DT_NEEDED` name in a fixed list of directories, skipping files of another
/// machine or class.
public struct LibraryResolver: Sendable {
    public var searchDirectories: [String]
    /// Largest library read into memory.
    public var fileSizeLimit: Int
    /// Most libraries in one closure.
    public var libraryLimit: Int

    public init(searchDirectories: [String], fileSizeLimit: Int = 256 << 20, libraryLimit: Int = 256) {
        self.searchDirectories = searchDirectories
        self.fileSizeLimit = fileSizeLimit
        self.libraryLimit = libraryLimit
    }

    /// Debian's library directories for a machine (multiarch first, then the legacy ones).
    public static func debianDirectories(machine: UInt16) -> [String] {
        var directories: [String] = []
        if let triple = multiarchTriple(machine) {
            directories += ["/lib/\(triple)", "/usr/lib/\(triple)"]
        }
        return directories + ["/lib64", "/usr/lib64", "/lib", "/usr/lib"]
    }

    static func multiarchTriple(_ machine: UInt16) -> String? {
        switch machine {
        case ELFFile.machineX86_64: "x86_64-linux-gnu"
        case ELFFile.machineAArch64: "aarch64-linux-gnu"
        default: nil
        }
    }

    /// The libraries `root` needs, directly or through other libraries, sorted by name.
    /// Names in `provided` (the loader's own name) are taken as present and not looked up.
    public func resolve(_ root: ELFFile, provided: Set<String> = []) throws -> [SharedLibrary] {
        var found: [String: SharedLibrary] = [:]
        var queue: [(needer: ELFFile, name: String)] = root.needed.map { (root, $0) }
        while !queue.isEmpty {
            let (needer, name) = queue.removeFirst()
            if provided.contains(name) || found[name] != nil { continue }
            try Self.checkName(name, neededBy: needer.name)
            guard found.count < libraryLimit else {
                throw ArcaError(.limitExceeded, "\(root.name) needs more than \(libraryLimit) libraries")
            }
            let (library, bytes, path) = try find(name, neededBy: needer, machine: root.machine)
            try Self.checkRunPath(library)
            found[name] = SharedLibrary(name: name, path: path, bytes: bytes)
            queue += library.needed.map { (library, $0) }
        }
        return found.values.sorted { $0.name < $1.name }
    }

    /// The first file named `name` in the search directories that is an ELF shared library of
    /// `machine` (glibc's loader skips mismatching files the same way).
    private func find(_ name: String, neededBy needer: ELFFile, machine: UInt16) throws -> (ELFFile, [UInt8], String) {
        var skipped: [String] = []
        for directory in searchDirectories {
            let path = directory + "/" + name
            guard FileSystem.exists(path), !FileSystem.isDirectory(path) else { continue }
            do {
                let (file, bytes) = try ELFFile.load(path: path, limit: fileSizeLimit)
                guard file.machine == machine, file.kind == .sharedObject else {
                    skipped.append("\(path) (machine \(file.machine))")
                    continue
                }
                return (file, bytes, path)
            } catch let error as ArcaError where [.invalidFormat, .unsupported, .notFound].contains(error.code) {
                skipped.append("\(path) (\(error.message))")
            }
        }
        let note = skipped.isEmpty ? "" : "; skipped " + skipped.joined(separator: ", ")
        throw ArcaError(.notFound, "library \(name) needed by \(needer.name) is in none of \(searchDirectories.joined(separator: ", "))\(note)")
    }

    /// A `DT_NEEDED` name is a plain file name: a slash would make the loader open it as a path.
    static func checkName(_ name: String, neededBy: String) throws {
        guard !name.isEmpty, name.utf8.count <= 255, !name.contains("/"), name != ".", name != ".." else {
            throw ArcaError(.unsafePath, "\(neededBy) needs library \"\(name.prefix(64))\", which is not a plain file name")
        }
    }

    /// A shipped library may only look for its dependencies beside itself (`$ORIGIN`, which is
    /// /.arca/lib once shipped) or in /.arca/lib, never in the base image.
    static func checkRunPath(_ library: ELFFile) throws {
        for entry in library.rpath + library.runpath where !RuntimeLayer.isContainedRunPath(entry) {
            throw ArcaError(.unsupported, "library \(library.name) searches \(entry) for its dependencies, outside \(RuntimeLayer.libraryDirectory)")
        }
    }
}
