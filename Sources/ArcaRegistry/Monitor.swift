#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// State guarded by a mutex, with a condition variable to wait for it to change.
///
/// The HTTP client delivers responses on NIO event-loop threads while Arca's streams are pulled
/// and pushed from ordinary (Dispatch or main) threads; this is the hand-over point. Only the
/// caller's threads ever wait here, never an event loop.
final class Monitor<State>: @unchecked Sendable {  // `state` is only touched with `mutex` held
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var state: State

    init(_ state: State) {
        self.state = state
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Changes the state and wakes every waiter.
    @discardableResult
    func withLock<T>(_ body: (inout State) throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer {
            pthread_cond_broadcast(condition)
            pthread_mutex_unlock(mutex)
        }
        return try body(&state)
    }

    /// Blocks until `ready` returns a value (it is called with the lock held, after every change).
    func wait<T>(until ready: (inout State) throws -> T?) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer {
            pthread_cond_broadcast(condition)
            pthread_mutex_unlock(mutex)
        }
        while true {
            if let value = try ready(&state) { return value }
            pthread_cond_wait(condition, mutex)
        }
    }
}
