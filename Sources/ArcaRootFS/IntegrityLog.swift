import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reports refused chunks: one line per file and chunk (the kernel retries failed reads, and a
/// scan may touch a bad chunk many times), written with a single `write(2)` to standard error,
/// which `arca-init` inherited before the pivot, so it never lands inside the mount.
final class IntegrityLog: Sendable {
    private let sink: @Sendable (String) -> Void
    private let reported = Mutex(Set<String>())
    /// Past this many distinct failures only the count grows: the set must not grow unbounded.
    private let limit = 4096

    init(sink: @escaping @Sendable (String) -> Void) {
        self.sink = sink
    }

    func refuse(path: String, chunk: UInt64?, reason: String) {
        let key = "\(path)\u{0}\(chunk.map(String.init) ?? "-")"
        let overflow = "\u{0}overflow"
        // nil: this failure is the one that filled the set.
        let first = reported.withLock { set -> Bool? in
            if set.contains(key) || set.contains(overflow) { return false }
            if set.count >= limit {
                set.insert(overflow)
                return nil
            }
            set.insert(key)
            return true
        }
        switch first {
        case true?:
            sink("arca-rootfs: refused \(chunk.map { "\(path) chunk \($0)" } ?? path): \(reason) (EIO)")
        case nil:
            sink("arca-rootfs: more than \(limit) refused chunks; no further ones are logged")
        case false?:
            return
        }
    }

    /// Writes `line` and a newline to file descriptor 2 in one call.
    static let standardError: @Sendable (String) -> Void = { line in
        let bytes = Array((line + "\n").utf8)
        bytes.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }
}
