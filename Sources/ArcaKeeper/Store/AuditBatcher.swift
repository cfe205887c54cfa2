import ArcaKeeperAPI
import FoundationEssentials
import Synchronization

/// Group commit for audit lines: every caller waits until its event is committed, and events that
/// arrive while a commit runs go into the next one, so a busy keeper writes one transaction for
/// many releases instead of one each (a SQLite commit costs about as much as the rest of a
/// release's store work). A failed commit fails every event in it.
final class AuditBatcher: Sendable {
    typealias Commit = @Sendable ([AuditEvent]) async throws -> Void

    private struct State {
        var pending: [(event: AuditEvent, done: CheckedContinuation<Void, any Error>)] = []
        var committing = false
    }

    /// Events in one transaction at most (bounds a transaction's size under a burst).
    static let maximumBatch = 256

    private let state = Mutex(State())
    private let commit: Commit

    init(commit: @escaping Commit) {
        self.commit = commit
    }

    /// Returns once `event` is committed; throws the commit's error.
    func append(_ event: AuditEvent) async throws {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
            let leads = state.withLock { state -> Bool in
                state.pending.append((event, done))
                guard !state.committing else { return false }
                state.committing = true
                return true
            }
            if leads {
                Task { await self.drain() }
            }
        }
    }

    /// Commits batches until none is pending, then hands the lead to the next caller.
    private func drain() async {
        while true {
            let batch = state.withLock { state -> [(event: AuditEvent, done: CheckedContinuation<Void, any Error>)] in
                let batch = Array(state.pending.prefix(Self.maximumBatch))
                state.pending.removeFirst(batch.count)
                if batch.isEmpty { state.committing = false }
                return batch
            }
            if batch.isEmpty { return }
            do {
                try await commit(batch.map(\.event))
                for entry in batch { entry.done.resume() }
            } catch {
                for entry in batch { entry.done.resume(throwing: error) }
            }
        }
    }
}
