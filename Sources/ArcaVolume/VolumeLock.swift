#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A plain pthread mutex for the volume's locks. The standard library's `Mutex` on Linux spins,
/// then waits on a priority-inheriting futex; with libfuse's worker threads contending for the
/// volume on a busy machine, its slow path showed up in profiles (13% of the server's samples in
/// a random-write run), where a plain mutex just sleeps.
final class VolumeLock: @unchecked Sendable {
    // @unchecked: the pthread mutex is the synchronization.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the mutex held (the argument mirrors `Mutex.withLock`'s value: none).
    func withLock<Result>(_ body: (inout Void) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        var nothing: Void = ()
        return try body(&nothing)
    }
}
