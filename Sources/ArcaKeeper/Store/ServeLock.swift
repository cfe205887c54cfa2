import ArcaCore
#if canImport(Glibc)
import Glibc
#endif

/// The exclusive lock that makes one `arca keeper serve` process the owner of a SQLite data
/// directory. `SQLiteStore` relies on it: its nonces live in memory and its session rows are
/// cached, which is right only while no other keeper writes the same file. The lock (`flock` on
/// `DATA/serve.lock`, 0600) is held for the life of the object and released by the kernel when
/// the process ends, however it ends. The offline commands (`arca keeper platform add`) do not take it.
public final class ServeLock: Sendable {
    private let fd: Int32

    /// Takes the lock or throws `alreadyExists` if another process (or another `ServeLock` in
    /// this one) holds it.
    public init(directory: String) throws {
        let path = "\(directory)/serve.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw ArcaError(.io, "cannot open \(path): \(String(cString: strerror(errno)).lowercased())")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            close(fd)
            if reason == EWOULDBLOCK {
                throw ArcaError(.alreadyExists, "another keeper serves the data directory \(directory) (\(path) is locked); "
                                + "sqlite is for one keeper process, use --database postgres://… for several")
            }
            throw ArcaError(.io, "cannot lock \(path): \(String(cString: strerror(reason)).lowercased())")
        }
        self.fd = fd
    }

    deinit {
        close(fd)   // releases the lock
    }
}
