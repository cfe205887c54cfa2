import ArcaCore
import Dispatch
import Synchronization

/// Reads `inner` on a thread of its own, up to `depth` buffers ahead of the consumer, so that
/// what produces the bytes (inflate, and the reads and hashing below it) runs on one core while
/// what consumes them (the diff_id's SHA-256, the tar parser, chunk hashing) runs on another.
/// Same bytes and errors, at the same positions, as reading `inner` directly. Memory:
/// `depth × bufferSize`. `inner` must not be used by anyone else until this source has ended,
/// failed or been released; releasing it waits for the read in flight.
public final class ReadAheadSource: ByteSource {
    private let state: ReadAheadState
    private var current: Int?
    private var offset = 0
    private var index = 0
    private var ended = false

    public init(_ inner: any ByteSource, bufferSize: Int = 256 * 1024, depth: Int = 4) {
        state = ReadAheadState(inner: inner, bufferSize: max(1, bufferSize), depth: max(1, depth))
    }

    deinit { state.stop() }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0, !ended else { return 0 }
        if current == nil {
            switch try state.take(index) {
            case 0:
                ended = true
                return 0
            case let filled:
                current = filled
                offset = 0
            }
        }
        let slot = state.slot(index)
        let n = min(buffer.count, current! - offset)
        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: slot[offset..<(offset + n)]))
        offset += n
        if offset == current! {
            state.release()
            current = nil
            index += 1
        }
        return n
    }
}

// @unchecked Sendable: `inner` is used only by the producer while it runs (and by nobody after
// `stop` returns); a slot is written between its `free` wait and its `ready` signal and read
// between `take` and `release`.
private final class ReadAheadState: @unchecked Sendable {
    private let inner: any ByteSource
    private let slots: [UnsafeMutableRawBufferPointer]
    private let free: DispatchSemaphore
    private let ready = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let filled = Mutex<[Int: Result<Int, any Error>]>([:])
    private let stopping = Atomic<Bool>(false)
    private var started = false

    init(inner: any ByteSource, bufferSize: Int, depth: Int) {
        self.inner = inner
        slots = (0..<depth).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 64) }
        // Created at 0 and raised: libdispatch traps when a semaphore is released below its
        // initial value, which a consumer that stops early leaves it at.
        free = DispatchSemaphore(value: 0)
        for _ in 0..<depth { free.signal() }
    }

    deinit {
        for slot in slots { slot.deallocate() }
    }

    func slot(_ index: Int) -> UnsafeMutableRawBufferPointer { slots[index % slots.count] }

    /// The byte count in slot `index` (0: the end), or the error `inner` threw there.
    func take(_ index: Int) throws -> Int {
        if !started {
            started = true
            // A queue of its own targets an overcommitting root queue: the producer gets a thread
            // even when every worker of the shared pool is blocked in a consumer.
            DispatchQueue(label: "arca.read-ahead").async { [self] in produce() }
        }
        ready.wait()
        guard let result = filled.withLock({ $0.removeValue(forKey: index) }) else {
            throw ArcaError(.io, "read-ahead ended before buffer \(index)")
        }
        return try result.get()
    }

    func release() { free.signal() }

    /// Stops the producer and waits until it no longer touches `inner`.
    func stop() {
        guard started else { return }
        stopping.store(true, ordering: .relaxed)
        free.signal()
        finished.wait()
    }

    private func produce() {
        var index = 0
        var failure: (any Error)?
        while true {
            free.wait()
            if stopping.load(ordering: .relaxed) { break }
            let result: Result<Int, any Error>
            if let error = failure {
                result = .failure(error)
            } else {
                let (count, error) = fill(slots[index % slots.count])
                // Bytes read before an error are handed out first, the error in the next slot.
                if let error, count == 0 { result = .failure(error) } else { result = .success(count); failure = error }
            }
            filled.withLock { $0[index] = result }
            ready.signal()
            // The end (0) and an error are final: nothing is read after them.
            guard case .success(let n) = result, n > 0 else { break }
            index += 1
        }
        finished.signal()
    }

    /// Fills `slot` as far as `inner` gives bytes (fewer only at its end or an error).
    private func fill(_ slot: UnsafeMutableRawBufferPointer) -> (Int, (any Error)?) {
        var total = 0
        while total < slot.count {
            do {
                let n = try inner.read(into: UnsafeMutableRawBufferPointer(rebasing: slot[total...]))
                if n == 0 { break }
                total += n
            } catch {
                return (total, error)
            }
        }
        return (total, nil)
    }
}
