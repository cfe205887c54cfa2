import ArcaCore
import ArcaCrypto
import Testing

/// Prints the chunk codec's throughput (MB/s). Correctness is asserted; time never is.
@Suite struct ThroughputTests {
    @Test func chunkCodecAndHashThroughput() throws {
        let keys = KeySchedule(masterKey: try MasterKey(bytes: [UInt8](repeating: 0x42, count: 32)))
        let layout = try ChunkLayout()
        let chunks: UInt64 = 256  // 16 MiB: a fraction of a second, no CPU hogging
        let codec = try ChunkCodec(keys: keys, layout: layout, streamId: ChunkHasher.digest([1]), streamSize: chunks * 65536)
        let size = codec.sealedChunkSize
        let plaintext = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        let sealed = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(chunks) * size, alignment: 16)
        let opened = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { plaintext.deallocate(); sealed.deallocate(); opened.deallocate() }
        for i in 0..<65536 { plaintext[i] = UInt8(truncatingIfNeeded: i &* 31) }
        func slot(_ j: UInt64) -> UnsafeMutableRawBufferPointer {
            UnsafeMutableRawBufferPointer(rebasing: sealed[(Int(j) * size)..<(Int(j + 1) * size)])
        }
        let clock = ContinuousClock()
        var mismatches = 0
        let sealTime = try clock.measure {
            for j in 0..<chunks { try codec.seal(index: j, plaintext: UnsafeRawBufferPointer(plaintext), into: slot(j)) }
        }
        let openTime = try clock.measure {
            for j in 0..<chunks { try codec.open(index: j, sealed: UnsafeRawBufferPointer(slot(j)), into: opened) }
        }
        for j in [0, chunks - 1] {
            try codec.open(index: j, sealed: UnsafeRawBufferPointer(slot(j)), into: opened)
            if !ConstantTime.equals(UnsafeRawBufferPointer(opened), UnsafeRawBufferPointer(plaintext)) { mismatches += 1 }
        }
        var digest = Hash256.zero
        let hashTime = clock.measure {
            for _ in 0..<chunks { digest = ChunkHasher.digest(UnsafeRawBufferPointer(plaintext)) }
        }
        #expect(mismatches == 0)
        #expect(digest == ChunkHasher.digest(UnsafeRawBufferPointer(plaintext)))
        func rate(_ d: Duration, _ bytes: Double) -> String {
            let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
            return String(Int(bytes / seconds / 1e6))
        }
        let total = Double(chunks) * 65536
        print("throughput of this build (debug builds are slow; release numbers in the shield report), 64 KiB chunks, one core: seal \(rate(sealTime, total)) MB/s, open \(rate(openTime, total)) MB/s, SHA-256 \(rate(hashTime, total)) MB/s")
    }
}
