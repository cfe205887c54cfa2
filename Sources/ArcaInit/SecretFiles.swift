import ArcaCore
import ArcaKeeperAPI
import ArcaOS
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// The secret files of a release, placed into the protected tree before the service starts and
/// never written to the host's disk: each lives on a private tmpfs (0400) and is bind-mounted
/// read-only onto its path, owned by the service's user.
///
/// In order: `stage` mounts the tmpfs on the protected root's mountpoint before the protected
/// root covers it (so no other path ever shows it) and keeps a descriptor per file; `bind`
/// mounts each file onto its path through that descriptor (before the pivot: the tmpfs must
/// still be in this mount namespace); `finish` hands each file to the service's user and makes
/// its mount read-only (after the pivot, once `/etc/passwd` of the image has named the user).
struct SecretFiles {
    /// Most secret files a release may carry, and the most bytes in all (the keeper's whole
    /// response is limited to 2 MiB).
    static let maximumCount = 256
    static let maximumBytes = 2 << 20

    struct Staged {
        var path: String
        /// An `O_PATH` descriptor of the file on the staging tmpfs.
        var descriptor: Int32
    }

    private(set) var staged: [Staged] = []

    // Linux values Swift's Glibc module hides (they need _GNU_SOURCE); the same on x86-64 and arm64.
    static let openPath: Int32 = 0o10_000_000  // O_PATH
    static let emptyPath: Int32 = 0x1000  // AT_EMPTY_PATH

    /// The paths of `files`, checked: absolute, normalized, distinct, not `/`.
    static func paths(_ files: [ReleasePayload.SecretFile]) throws -> [String] {
        guard files.count <= maximumCount else {
            throw ArcaError(.limitExceeded, "the release has \(files.count) secret files, over the limit of \(maximumCount)")
        }
        var seen = Set<String>()
        return try files.map { file in
            let components = file.path.split(separator: "/", omittingEmptySubsequences: false)
            guard file.path.hasPrefix("/"), file.path.count > 1, !file.path.hasSuffix("/"),
                  !components.dropFirst().contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
                throw ArcaError(.unsafePath, "secret file path \(file.path) is not an absolute, normalized file path")
            }
            guard seen.insert(file.path).inserted else {
                throw ArcaError(.invalidArgument, "secret file path \(file.path) is given twice")
            }
            return file.path
        }
    }

    /// Mounts a private tmpfs at `staging` and writes each file there (0400, root-owned for now).
    /// Returns an empty set (and mounts nothing) when there are no files.
    static func stage(_ files: [ReleasePayload.SecretFile], at staging: String) throws -> SecretFiles {
        var result = SecretFiles()
        guard !files.isEmpty else { return result }
        let paths = try paths(files)
        var total = 0
        var contents: [[UInt8]] = []
        for file in files {
            guard let data = Data(base64Encoded: file.content) else {
                throw ArcaError(.invalidFormat, "the content of secret file \(file.path) is not base64")
            }
            total += data.count
            guard total <= maximumBytes else {
                throw ArcaError(.limitExceeded, "the release's secret files hold over \(formatBytes(UInt64(maximumBytes)))")
            }
            contents.append(Array(data))
        }
        try Mounts.tmpfs(at: staging, mode: "0700")
        for (number, path) in paths.enumerated() {
            let name = "\(staging)/\(number)"
            try Self.writeFile(&contents[number], to: name, secret: path)
            let descriptor = open(name, Self.openPath | O_CLOEXEC | O_NOFOLLOW)
            guard descriptor >= 0 else {
                throw ArcaError(.io, "cannot open the staged secret file for \(path): \(String(cString: strerror(errno)))")
            }
            result.staged.append(Staged(path: path, descriptor: descriptor))
        }
        return result
    }

    /// Writes `bytes` to a new 0400 file and overwrites them in memory afterwards.
    private static func writeFile(_ bytes: inout [UInt8], to name: String, secret path: String) throws {
        defer { for index in bytes.indices { bytes[index] = 0 } }
        let fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o400)
        guard fd >= 0 else { throw ArcaError(.io, "cannot create the staged secret file for \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ArcaError(.io, "cannot write the staged secret file for \(path): \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }

    /// Binds each staged file onto `root + path`. A missing target (and its missing directories)
    /// is created when it lies below one of `memoryBacked` (the `ephemeral` paths, tmpfs mounts
    /// under `root`); the protected root lists the others as mountpoints, so anything else missing
    /// is an error, never a file on a host directory.
    func bind(under root: String, memoryBacked: [String]) throws {
        for file in staged {
            let target = root + file.path
            var status = stat()
            if lstat(target, &status) != 0 {
                guard errno == ENOENT, memoryBacked.contains(where: { file.path.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }) else {
                    throw ArcaError(.notFound, "secret file \(file.path) has no place in the protected root: it lies below a path that is not memory-backed (a host or volume path)")
                }
                try FileSystem.makeDirectories(String(target[..<target.lastIndex(of: "/")!]))
                let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o400)
                guard fd >= 0 else {
                    throw ArcaError(.io, "cannot create the mountpoint for secret file \(file.path): \(String(cString: strerror(errno)))")
                }
                close(fd)
            } else if status.st_mode & S_IFMT != S_IFREG {
                throw ArcaError(.invalidArgument, "secret file \(file.path): the image has a directory, link or device there, not a file")
            }
            try Mounts.bind("/proc/self/fd/\(file.descriptor)", to: target, recursive: false)
        }
    }

    /// Gives each file to the service's user (root when nil), makes its mount read-only and closes
    /// the descriptors. Paths are seen from the new root.
    func finish(owner: ServiceIdentity?) throws {
        for file in staged {
            guard fchownat(file.descriptor, "", owner?.uid ?? 0, owner?.gid ?? 0, Self.emptyPath) == 0 else {
                throw ArcaError(.io, "cannot give secret file \(file.path) to uid \(owner?.uid ?? 0): \(String(cString: strerror(errno)))")
            }
            guard mount(nil, file.path, nil, UInt(MS_BIND) | UInt(MS_REMOUNT) | UInt(MS_RDONLY) | UInt(MS_NOSUID) | UInt(MS_NODEV), nil) == 0 else {
                throw ArcaError(.io, "cannot make secret file \(file.path) read-only: \(String(cString: strerror(errno)))")
            }
            close(file.descriptor)
        }
    }
}
