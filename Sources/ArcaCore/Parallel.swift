import Dispatch
import Synchronization

/// Runs independent pieces of work on several threads.
public enum Parallel {
    /// Calls `body(i)` for every `i` in `0..<count`, on up to `width` threads, and returns the results
    /// in index order. If any call throws, the error of the lowest index is thrown (so failures do
    /// not depend on timing). `body` must be safe to call concurrently for different indexes.
    public static func map<T: Sendable>(_ count: Int, width: Int, _ body: (Int) throws -> T) throws -> [T] {
        guard count > 0 else { return [] }
        let results = Mutex<[Int: Result<T, any Error>]>([:])
        let next = Atomic<Int>(0)
        // The closure only runs while this function waits in concurrentPerform, and `body` is
        // documented as safe to call concurrently, so sharing it with the worker threads is sound.
        nonisolated(unsafe) let shared = body
        let worker: @Sendable (Int) -> Void = { _ in
            while true {
                let index = next.add(1, ordering: .relaxed).oldValue
                guard index < count else { return }
                let result = Result { try shared(index) }
                results.withLock { $0[index] = result }
            }
        }
        DispatchQueue.concurrentPerform(iterations: max(1, min(width, count)), execute: worker)
        return try results.withLock { all in try (0..<count).map { try all[$0]!.get() } }
    }
}
