import ArcaCore
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs a consumer of a byte stream on its own thread, fed through a bounded queue: the bytes
/// written into this sink are read by `body` as a `ByteSource` while the writer goes on with its
/// own work (ImageCopier forwards a layer to its destination while this thread decompresses the
/// same bytes to check the diff_id).
///
/// At most `capacity` chunks are queued; a writer ahead of the consumer waits. When the consumer
/// fails, the next `write` throws its error (so a bad layer stops the transfer early) and the
/// rest of the stream is discarded. `finish()` ends the stream; `wait()` joins the thread and
/// rethrows the consumer's error. The owner must call `wait()` (also after its own failure: it
/// ends the stream first), or the thread waits forever for the end of the stream.
final class BackgroundReader: ByteSink, @unchecked Sendable {
    // Shared state is behind `state`; the consumer's current chunk is only touched on its thread.
    private struct State {
        var chunks: [[UInt8]?] = []
        var head = 0
        var error: (any Error)?
        var ended = false
    }

    private let state = Mutex(State())
    private let slots: DispatchSemaphore
    private let items = DispatchSemaphore(value: 0)
    private var thread: pthread_t?

    /// Starts `body` on a new thread, reading what is written into this sink.
    init(capacity: Int = 16, _ body: @escaping (any ByteSource) throws -> Void) throws {
        self.slots = DispatchSemaphore(value: max(1, capacity))
        let reader = QueueSource(owner: self)
        let work = Work {
            do {
                try body(reader)
                try reader.drain()  // the consumer may stop before the end: keep the writer moving
            } catch {
                self.state.withLock { $0.error = error }
                try? reader.drain()
            }
        }
        var handle = pthread_t()
        let context = Unmanaged.passRetained(work).toOpaque()
        let status = pthread_create(&handle, nil, { raw in
            Unmanaged<Work>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, context)
        guard status == 0 else {
            Unmanaged<Work>.fromOpaque(context).release()
            throw ArcaError(.io, "cannot start a thread (error \(status))")
        }
        thread = handle
    }

    deinit {
        // Only reached once the thread let go of this object; a thread never joined is detached.
        if let handle = thread { pthread_detach(handle) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !bytes.isEmpty else { return }
        if let error = state.withLock({ $0.error }) { throw error }
        try enqueue(Array(bytes))
    }

    /// Ends the stream (once); the consumer sees its end after the chunks queued before.
    func finish() throws {
        try enqueue(nil)
    }

    /// Joins the consumer's thread and rethrows its error, if any.
    func wait() throws {
        finishQuietly()
        join()
        if let error = state.withLock({ $0.error }) { throw error }
    }

    private func finishQuietly() {
        try? enqueue(nil)
    }

    private func enqueue(_ chunk: [UInt8]?) throws {
        let alreadyEnded = state.withLock { $0.ended }
        if alreadyEnded {
            if chunk == nil { return }
            throw ArcaError(.io, "write after the end of a background stream")
        }
        slots.wait()
        state.withLock { state in
            state.chunks.append(chunk)
            if chunk == nil { state.ended = true }
        }
        items.signal()
    }

    private func join() {
        guard let handle = thread else { return }
        thread = nil
        pthread_join(handle, nil)
    }

    /// The next queued chunk (nil at the end), waiting for one; consumer side.
    fileprivate func dequeue() -> [UInt8]? {
        items.wait()
        let chunk = state.withLock { state -> [UInt8]? in
            let chunk = state.chunks[state.head]
            state.chunks[state.head] = nil
            state.head += 1
            if state.head > 64 && state.head * 2 > state.chunks.count {
                state.chunks.removeFirst(state.head)
                state.head = 0
            }
            return chunk
        }
        slots.signal()
        return chunk
    }

    private final class Work {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// The consumer's view of the queue.
    private final class QueueSource: ByteSource {
        let owner: BackgroundReader
        private var current: [UInt8] = []
        private var offset = 0
        private var ended = false

        init(owner: BackgroundReader) { self.owner = owner }

        func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            while offset == current.count {
                guard !ended, let next = owner.dequeue() else {
                    ended = true
                    return 0
                }
                current = next
                offset = 0
            }
            let n = min(buffer.count, current.count - offset)
            current.withUnsafeBytes { bytes in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)]))
            }
            offset += n
            return n
        }
    }
}
