import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One long-lived thread that helps a read open its chunks when no other read of several batches
/// is in progress: the reading thread offers its work (numbered pieces), then works on it itself;
/// both take pieces from one counter, so a helper that wakes late costs the reader nothing but
/// the offer. A reader returns only after the helper has finished (or never started) its share,
/// so the work may use the reader's stack and buffers.
///
/// Measured (docs/BENCHMARKS.md, round 3): handing half of a 256 KiB request to a Dispatch worker
/// (`Parallel.map`) made it slower (688 vs 794 MB/s, server CPU 160 vs 131 ms per 128 MiB); this
/// helper was neutral on a shared machine, where the 4 MiB readahead keeps several requests in
/// flight anyway; it is for the one-request-at-a-time case (small readahead, a single large read).
final class ReadHelper: @unchecked Sendable {
    // @unchecked: `offered` and `started` are guarded by `mutex`; a job's own state is atomic.
    static let shared = ReadHelper()

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var offered: Job?
    /// Reads in `run` now.
    private let readers = Atomic<Int>(0)
    private var started = false

    /// One offered piece of work. `state`: 0 offered, 1 taken by the helper, 2 withdrawn by the
    /// reader (the helper then skips it); `finished` is set by the helper when its share is done.
    final class Job: @unchecked Sendable {
        // @unchecked: `body` is read by the helper only after taking the job (state 1), and
        // cleared by the reader only after the helper finished or never took it.
        let count: Int
        let next = Atomic<Int>(0)
        let state = Atomic<Int>(0)
        let finished = Atomic<Bool>(false)
        var body: ((Int) -> Void)?

        init(count: Int, body: @escaping (Int) -> Void) {
            self.count = count
            self.body = body
        }

        /// Runs pieces until none are left.
        func work() {
            guard let body else { return }
            while true {
                let index = next.add(1, ordering: .relaxed).oldValue
                guard index < count else { return }
                body(index)
            }
        }
    }

    private init() {
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        wake.initialize(to: pthread_cond_t())
        pthread_cond_init(wake, nil)
        done.initialize(to: pthread_cond_t())
        pthread_cond_init(done, nil)
    }

    /// Runs `body(i)` for every `i` in `0..<count`, on this thread and (if it is free) the
    /// helper. `body` must be safe to call concurrently for different indexes.
    func run(_ count: Int, _ body: (Int) -> Void) {
        // Only a read with no other here is shared: several at once (the kernel's
        // readahead keeps a few 1 MiB requests in flight) already keep the cores busy, and
        // handing work over would only add wake-ups.
        let others = readers.add(1, ordering: .relaxed).oldValue
        defer { readers.subtract(1, ordering: .relaxed) }
        guard count > 1, others == 0 else {
            for index in 0..<count { body(index) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let job = Job(count: count, body: body)
            // The helper may keep the job object a little longer, never the closure.
            defer { job.body = nil }
            let handed = offer(job)
            job.work()
            guard handed else { return }
            if job.state.compareExchange(expected: 0, desired: 2, ordering: .acquiringAndReleasing).exchanged {
                withdraw(job)
                return
            }
            // The helper took it: its share is at most the one piece it is running. Sleep rather
            // than spin: on a busy machine the helper may be waiting for this very core.
            pthread_mutex_lock(mutex)
            while !job.finished.load(ordering: .acquiring) { pthread_cond_wait(done, mutex) }
            pthread_mutex_unlock(mutex)
        }
    }

    /// Hands `job` to the helper if it is idle (starting it the first time); false if it is busy.
    private func offer(_ job: Job) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard offered == nil else { return false }
        if !started {
            guard startThread() else { return false }
            started = true
        }
        offered = job
        pthread_cond_signal(wake)
        return true
    }

    /// Takes back a job the helper has not started.
    private func withdraw(_ job: Job) {
        pthread_mutex_lock(mutex)
        if offered === job { offered = nil }
        pthread_mutex_unlock(mutex)
    }

    private func startThread() -> Bool {
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { raw in
            Unmanaged<ReadHelper>.fromOpaque(raw!).takeUnretainedValue().loop()
            return nil
        }, Unmanaged.passUnretained(self).toOpaque())  // `shared` lives as long as the process
        guard result == 0 else { return false }
        pthread_detach(thread)
        return true
    }

    private func loop() {
        while true {
            pthread_mutex_lock(mutex)
            while offered == nil { pthread_cond_wait(wake, mutex) }
            let job = offered!
            offered = nil
            pthread_mutex_unlock(mutex)
            if job.state.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged {
                job.work()
                pthread_mutex_lock(mutex)
                job.finished.store(true, ordering: .releasing)
                pthread_cond_broadcast(done)
                pthread_mutex_unlock(mutex)
            }
        }
    }
}
