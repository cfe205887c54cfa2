import ArcaCore
import Dispatch
import Synchronization

/// Seals the chunks of one stream group by group into a ring of reused buffers, for
/// `SealedBlobSource`. With one thread it seals a group when it is taken; with more, a producer
/// on its own queue runs up to `depth` groups ahead of the consumer.
// @unchecked Sendable: the buffers are shared with the producer, but a slot is written only
// between its `free` wait and its `ready` signal and read only between `take` and `release`.
final class SealPipeline: @unchecked Sendable {
    static let depth = 3
    let groups: Int
    private let sealer: StreamSealer
    private let content: any RandomAccessBytes
    private let parallelism: Int
    private let batchesPerGroup: Int
    private let batches: Int
    private let slots: [UnsafeMutableRawBufferPointer]
    // Created at 0 and raised in init: libdispatch traps when a semaphore is released below its
    // initial value, which a consumer that stops early leaves it at.
    private let free = DispatchSemaphore(value: 0)
    private let ready = DispatchSemaphore(value: 0)
    private let results = Mutex<[Int: Result<Int, any Error>]>([:])
    private let cancelled = Atomic<Bool>(false)
    private var started = false

    init(sealer: StreamSealer, content: any RandomAccessBytes, parallelism: Int) {
        self.sealer = sealer
        self.content = content
        self.parallelism = parallelism
        batchesPerGroup = parallelism
        batches = Int((sealer.chunkCount + UInt64(SealedBlobSource.batch) - 1) / UInt64(SealedBlobSource.batch))
        groups = (batches + batchesPerGroup - 1) / batchesPerGroup
        let chunksPerGroup = min(UInt64(batchesPerGroup * SealedBlobSource.batch), sealer.chunkCount)
        let slotSize = Int(chunksPerGroup) * sealer.sealedChunkSize
        slots = (0..<(parallelism == 1 ? 1 : min(Self.depth, groups))).map { _ in
            UnsafeMutableRawBufferPointer.allocate(byteCount: slotSize, alignment: 64)
        }
        for _ in 0..<Self.depth { free.signal() }
    }

    deinit {
        for slot in slots { slot.deallocate() }
    }

    /// The sealed bytes of group `g` (groups are taken in order, each released before the next).
    func take(_ g: Int) throws -> UnsafeMutableRawBufferPointer {
        let slot = slots[g % slots.count]
        if slots.count == 1 {
            let count = try seal(g, into: slot)
            return UnsafeMutableRawBufferPointer(rebasing: slot[..<count])
        }
        if !started {
            started = true
            // A queue of its own targets an overcommitting root queue: the producer gets a thread
            // even when every worker of the shared pool is blocked in a consumer.
            DispatchQueue(label: "arca.seal.pipeline").async { [self] in produce() }
        }
        ready.wait()
        let result = results.withLock { $0.removeValue(forKey: g) }
        guard let result else {
            throw ArcaError(.io, "sealing pipeline ended before group \(g)")
        }
        let count = try result.get()
        return UnsafeMutableRawBufferPointer(rebasing: slot[..<count])
    }

    /// Hands group `g`'s buffer back to the producer.
    func release(_ g: Int) {
        if slots.count > 1 { free.signal() }
    }

    /// Stops the producer (the consumer went away); it ends after the group it is sealing.
    func cancel() {
        cancelled.store(true, ordering: .relaxed)
        if started { for _ in 0..<Self.depth { free.signal() } }
    }

    private func produce() {
        for g in 0..<groups {
            free.wait()
            if cancelled.load(ordering: .relaxed) { break }
            let result = Result { try seal(g, into: slots[g % slots.count]) }
            results.withLock { $0[g] = result }
            ready.signal()
            if case .failure = result { break }
        }
        // A consumer waiting for a group the producer will not make learns it from `take`.
        ready.signal()
    }

    /// Seals the batches of group `g` into `slot` on up to `parallelism` threads; returns the bytes written.
    private func seal(_ g: Int, into slot: UnsafeMutableRawBufferPointer) throws -> Int {
        let sealer = self.sealer, content = self.content
        let first = g * batchesPerGroup
        let count = min(batchesPerGroup, batches - first)
        let firstChunk = UInt64(first * SealedBlobSource.batch)
        let written = try Parallel.map(count, width: parallelism) { offset -> Int in
            let range = SealedBlobSource.range(ofBatch: first + offset, chunkCount: sealer.chunkCount)
            let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: sealer.layout.chunkSize, alignment: 64)
            defer { plain.deallocate() }
            for j in range {
                try SealedBlobSource.assemble(j, of: content, size: sealer.size, layout: sealer.layout, into: plain)
                let start = Int(j - firstChunk) * sealer.sealedChunkSize
                let output = UnsafeMutableRawBufferPointer(rebasing: slot[start..<(start + sealer.sealedChunkSize)])
                try sealer.seal(chunk: j, plaintext: UnsafeRawBufferPointer(plain), into: output)
            }
            return range.count * sealer.sealedChunkSize
        }
        return written.reduce(0, +)
    }
}
