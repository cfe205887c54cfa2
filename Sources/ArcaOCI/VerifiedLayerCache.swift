import ArcaArchive
import ArcaCore
#if canImport(Glibc)
import Glibc
#endif

/// A record of the layers whose diff_id this user has already checked: (compression, blob digest,
/// diff_id) triples that were proven by decompressing the blob and hashing the result.
///
/// Why it is sound to skip a check on a hit: a blob with a given SHA-256 digest has one content,
/// so "blob D decompresses to diff_id X" is true forever once it was true once. A copy still
/// verifies every blob's digest and size as it streams (that check is never skipped), so the bytes
/// it forwards are the bytes that were checked before. Only the local record is trusted: it lives
/// in a directory of the user's own (owned by the effective user, not writable by group or
/// others; otherwise it is ignored), never in the image or the store being read.
///
/// Entries are empty files named by the SHA-256 of the triple; writing is best effort (a cache
/// that cannot be written only means the next copy checks again).
public final class VerifiedLayerCache: Sendable {
    public let directory: String
    private let usable: Bool

    /// Uses (and creates, 0700) `directory`.
    public init(directory: String) {
        self.directory = directory
        try? FileSystem.makeDirectories(directory, permissions: 0o700)
        self.usable = Self.isPrivate(directory)
    }

    /// The user's cache: `$ARCA_CACHE_DIR/verified-layers` (an empty `ARCA_CACHE_DIR` turns the
    /// cache off), else `$XDG_CACHE_HOME/arca/verified-layers`, else `~/.cache/arca/verified-layers`.
    public static func standard() -> VerifiedLayerCache? {
        let base: String
        if let explicit = environmentValue("ARCA_CACHE_DIR") {
            guard !explicit.isEmpty else { return nil }
            base = explicit
        } else if let xdg = environmentValue("XDG_CACHE_HOME"), xdg.hasPrefix("/") {
            base = xdg + "/arca"
        } else if let home = environmentValue("HOME"), home.hasPrefix("/") {
            base = home + "/.cache/arca"
        } else {
            return nil
        }
        return VerifiedLayerCache(directory: base + "/verified-layers")
    }

    /// True when this blob was proven before to decompress (with `compression`) to `diffID`.
    public func contains(blob: Digest, compression: LayerCompression, diffID: Digest) -> Bool {
        guard usable else { return false }
        var info = stat()
        return lstat(path(blob: blob, compression: compression, diffID: diffID), &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    /// Records a triple just proven. Call only after the blob's digest *and* its diff_id were checked.
    public func record(blob: Digest, compression: LayerCompression, diffID: Digest) {
        guard usable else { return }
        let name = path(blob: blob, compression: compression, diffID: diffID)
        let fd = open(name, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        if fd >= 0 { close(fd) }
    }

    private func path(blob: Digest, compression: LayerCompression, diffID: Digest) -> String {
        directory + "/" + sha256Hex(Array("arca verified layer 1\n\(compression.rawValue)\n\(blob)\n\(diffID)\n".utf8))
    }

    /// A directory of the effective user's that nobody else may write into.
    private static func isPrivate(_ directory: String) -> Bool {
        var info = stat()
        guard lstat(directory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { return false }
        return info.st_uid == geteuid() && info.st_mode & 0o022 == 0
    }
}
