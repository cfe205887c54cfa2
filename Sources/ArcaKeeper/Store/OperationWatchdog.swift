import Synchronization

/// Bounds how long each store operation may run, with one sweeper that wakes every
/// `interval` instead of a timer per operation. The per-operation form (a task group racing the
/// operation against `Task.sleep(for: timeout)`) allocated a child task and a timer for every
/// query, and a cancelled sleep keeps its timer, with the task memory it holds, until its deadline
/// passes: at hundreds of queries a second, 15 s of them were tens of MiB of keeper RSS
/// (docs/BENCHMARKS.md). An operation past its deadline is cancelled at the next sweep.
final class OperationWatchdog: Sendable {
    private struct Entry {
        let deadline: ContinuousClock.Instant
        let cancel: @Sendable () -> Void
        var timedOut = false
    }

    private let state = Mutex<(next: UInt64, entries: [UInt64: Entry])>((0, [:]))
    let interval: Duration

    init(interval: Duration = .milliseconds(500)) {
        self.interval = interval
    }

    /// Runs `body` in a task of its own, cancelled if the caller is cancelled or if it is still
    /// running at a sweep after `timeout`. Returns nil when it was cancelled for its timeout.
    func run<T: Sendable>(timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
        let task = Task { try await body() }
        let id = state.withLock { state -> UInt64 in
            state.next += 1
            state.entries[state.next] = Entry(deadline: .now + timeout, cancel: { task.cancel() })
            return state.next
        }
        defer { _ = state.withLock { $0.entries.removeValue(forKey: id) } }
        return try await withTaskCancellationHandler {
            do {
                return try await task.value
            } catch {
                if state.withLock({ $0.entries[id]?.timedOut ?? false }) { return nil }
                throw error
            }
        } onCancel: {
            task.cancel()
        }
    }

    /// Cancels every operation past its deadline.
    func sweep(now: ContinuousClock.Instant = .now) {
        let overdue = state.withLock { state -> [@Sendable () -> Void] in
            var cancels: [@Sendable () -> Void] = []
            for (id, entry) in state.entries where !entry.timedOut && entry.deadline <= now {
                state.entries[id]?.timedOut = true
                cancels.append(entry.cancel)
            }
            return cancels
        }
        for cancel in overdue { cancel() }
    }

    /// Sweeps every `interval` until cancelled.
    func runSweeper() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            sweep()
        }
    }
}
