import ArcaCore
import ArcaTestSupport
import Synchronization
import Testing
@testable import ArcaArchive

@Suite struct ReadAheadSourceTests {
    @Test func sameBytesForAnyBufferAndReadSize() throws {
        let bytes = pseudoRandomBytes(1_000_003)
        for (bufferSize, depth, step, inputStep) in [(1, 1, 1, 1 << 20), (4096, 2, 100_000, 13), (256 * 1024, 4, 7, 4096), (3, 5, 65536, 1)] {
            let source = ReadAheadSource(TrickleSource(bytes, chunk: inputStep), bufferSize: bufferSize, depth: depth)
            #expect(try readToEnd(source, step: step) == bytes, "buffer \(bufferSize), depth \(depth), reads of \(step)")
            // The end stays the end.
            var one: UInt8 = 0
            #expect(try withUnsafeMutableBytes(of: &one) { try source.read(into: $0) } == 0)
        }
        #expect(try readToEnd(ReadAheadSource(MemorySource([])), step: 10).isEmpty)
    }

    @Test func anErrorComesAfterTheBytesBeforeIt() throws {
        let bytes = pseudoRandomBytes(50_000)
        for bufferSize in [1000, 64 * 1024] {
            let source = ReadAheadSource(FailingSource(bytes, failAt: 30_000), bufferSize: bufferSize, depth: 3)
            var got: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 777)
            let error = try #require(throws: ArcaError.self) {
                while true {
                    let n = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
                    if n == 0 { break }
                    got += buffer[..<n]
                }
            }
            #expect(error.message.contains("disk on fire"))
            #expect(got == Array(bytes.prefix(30_000)))
        }
    }

    @Test func releasingItEarlyStopsTheReads() throws {
        let counting = CountingReads(pseudoRandomBytes(10_000_000))
        do {
            let source = ReadAheadSource(counting, bufferSize: 4096, depth: 2)
            var buffer = [UInt8](repeating: 0, count: 100)
            _ = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
        }
        // Released: the producer stopped within a few buffers and reads no more.
        let after = counting.bytesRead
        #expect(after <= 4 * 4096)
        #expect(counting.bytesRead == after)
    }
}

/// Fails with an `io` error once `failAt` bytes were read.
final class FailingSource: ByteSource {
    private let bytes: [UInt8]
    private let failAt: Int
    private var offset = 0
    init(_ bytes: [UInt8], failAt: Int) {
        self.bytes = bytes
        self.failAt = failAt
    }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard offset < failAt else { throw ArcaError(.io, "disk on fire at \(offset)") }
        let n = min(buffer.count, failAt - offset, 5000)
        bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + n)])) }
        offset += n
        return n
    }
}

/// Counts the bytes read through it (from any thread).
final class CountingReads: ByteSource, @unchecked Sendable {  // the count is atomic; the rest is read by one thread at a time
    private let inner: MemorySource
    private let count = Atomic<Int>(0)
    init(_ bytes: [UInt8]) { inner = MemorySource(bytes) }
    var bytesRead: Int { count.load(ordering: .relaxed) }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try inner.read(into: buffer)
        count.add(n, ordering: .relaxed)
        return n
    }
}
