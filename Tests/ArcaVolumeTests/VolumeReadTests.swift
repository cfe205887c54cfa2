import ArcaCore
import ArcaFUSE
import ArcaTestSupport
import Foundation
import Synchronization
import Testing
@testable import ArcaVolume

/// The read path: batched `pread`s of adjacent chunks, and the pieces a FUSE reply sends without
/// gathering them.
@Suite struct VolumeReadTests {
    /// A file of 80 chunks of 4 KiB written in one go (back to back in one segment), with a hole
    /// of 10 chunks and a short last chunk, committed and reopened so every chunk is sealed.
    private func populate(_ fixture: VolumeFixture) throws -> (inode: UInt64, content: [UInt8]) {
        var random = TestRandom(seed: 11)
        var content = random.bytes(80 * 4096 - 1000)
        content.replaceSubrange(30 * 4096..<40 * 4096, with: [UInt8](repeating: 0, count: 10 * 4096))
        let volume = try fixture.open()
        let inode = try volume.put("file", Array(content[..<(30 * 4096)]))
        _ = try content[(40 * 4096)...].withUnsafeBytes { try volume.write(inode: inode, offset: 40 * 4096, bytes: $0) }
        try volume.close()
        return (inode, content)
    }

    /// Both read forms of `count` bytes at `offset`.
    private func read(_ volume: Volume, _ inode: UInt64, _ offset: Int, _ count: Int) throws -> (into: [UInt8], pieces: [UInt8]) {
        var buffer = [UInt8](repeating: 0xEE, count: count)
        let n = try buffer.withUnsafeMutableBytes { try volume.read(inode: inode, offset: UInt64(offset), into: $0) }
        let pieces = try volume.read(inode: inode, offset: UInt64(offset), count: count) { pieces in
            pieces.reduce(into: [UInt8]()) { $0 += $1 }
        }
        return (Array(buffer[..<n]), pieces)
    }

    @Test func everyRangeReadsTheContentAcrossBatchesHolesAndTheShortEnd() async throws {
        try await VolumeFixture.with { fixture in
            let (inode, content) = try populate(fixture)
            let volume = try fixture.open()
            defer { volume.abandon() }
            #expect(try volume.chunks(of: "file").count == 70)
            let ranges = [(0, 1), (0, 4096), (100, 4096), (4095, 2), (0, 1 << 20), (5000, 256 << 10), (29 * 4096 + 7, 12 * 4096),
                          (35 * 4096, 100), (content.count - 10, 100), (content.count - 5000, 5000), (content.count, 10),
                          (content.count + 4096, 10), (123_456, 131_072)]
            for (offset, count) in ranges {
                let expected = Array(content[min(offset, content.count)..<min(offset + count, content.count)])
                let (into, pieces) = try read(volume, inode, offset, count)
                #expect(into == expected, "read(into:) of \(count) bytes at \(offset)")
                #expect(pieces == expected, "read(count:) of \(count) bytes at \(offset)")
            }
        }
    }

    @Test func concurrentLargeReadsStayCorrect() async throws {
        try await VolumeFixture.with { fixture in
            let (inode, content) = try populate(fixture)
            let volume = try fixture.open()
            defer { volume.abandon() }
            let mismatches = Atomic<Int>(0)
            _ = try Parallel.map(8, width: 8) { worker in
                for round in 0..<20 {
                    let offset = (worker * 7919 + round * 104_729) % content.count
                    let count = 64 << 10 + (round % 3) * 100_000
                    let expected = Array(content[offset..<min(offset + count, content.count)])
                    if try read(volume, inode, offset, count) != (expected, expected) { mismatches.add(1, ordering: .relaxed) }
                }
            }
            #expect(mismatches.load(ordering: .relaxed) == 0)
        }
    }

    @Test func aTamperedChunkInsideARunFailsOnlyTheReadsThatCoverIt() async throws {
        try await VolumeFixture.with { fixture in
            let (inode, content) = try populate(fixture)
            var volume = try fixture.open()
            let chunks = try volume.chunks(of: "file")
            volume.abandon()
            // Chunk 50 (the 41st stored: 30 before the hole, then 40...): back to back with its neighbours.
            let victim = chunks[40]
            #expect(chunks[39].segment == victim.segment && chunks[39].offset + UInt64(chunks[39].sealedSize) == victim.offset)
            for at in [0, 4000, victim.sealedSize - 1] {  // ciphertext and tag
                try fixture.editSegment(victim.segment) { $0[Int(victim.offset) + at] ^= 0x04 }
                volume = try fixture.open()
                for (offset, count) in [(0, 1 << 20), (40 * 4096, 11 * 4096), (50 * 4096 + 4095, 1), (49 * 4096, 8192)] {
                    #expect("read of \(count) bytes at \(offset)") { _ = try read(volume, inode, offset, count) } throws: {
                        ($0 as? ArcaError)?.code == .integrity
                    }
                }
                for (offset, count) in [(0, 50 * 4096), (40 * 4096, 10 * 4096), (51 * 4096, 1 << 20), (50 * 4096 - 1, 1)] {
                    let expected = Array(content[offset..<min(offset + count, content.count)])
                    #expect(try read(volume, inode, offset, count) == (expected, expected), "read of \(count) bytes at \(offset)")
                }
                volume.abandon()
                try fixture.editSegment(victim.segment) { $0[Int(victim.offset) + at] ^= 0x04 }
            }
        }
    }
}

/// Reads through the mount: the readahead window the server sets, and the replies it sends from
/// the opened chunks (`fuse_reply_iov`) for sequential and unaligned reads of a cold file.
@Suite(.serialized) struct VolumeMountReadTests {
    @Test func coldSequentialAndUnalignedReadsThroughTheMountMatchTheContent() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            var random = TestRandom(seed: 17)
            let content = random.bytes(3 << 20 | 12_345)
            var server = try VolumeServer(directory: dir)
            try Posix.writeFile(server.mountpoint + "/file", content, sync: true)
            server.stop()
            server = try VolumeServer(directory: dir)  // a cold page cache, every chunk sealed
            defer { server.stop() }
            let path = server.mountpoint + "/file"
            #expect(try Posix.readFile(path) == content)
            let connection = try FUSEConnection.find(mountpoint: server.mountpoint)
            let setting = try FileSystem.readFile("/sys/class/bdi/\(connection.id >> 20):\(connection.id & 0xfffff)/read_ahead_kb", limit: 64)
            #expect(String(decoding: setting, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "4096")
            let fd = open(path, O_RDONLY)
            try Posix.check(fd)
            defer { close(fd) }
            _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)  // cold again: these reads reach the server
            for (offset, count) in [(1_000_001, 300_000), (5, 1), (16_383, 2), (3 << 20, 20_000), (0, 1 << 20)] {
                var buffer = [UInt8](repeating: 0, count: count)
                let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
                #expect(n == min(count, content.count - offset), "pread of \(count) at \(offset)")
                #expect(Array(buffer[..<max(n, 0)]) == Array(content[offset..<offset + max(n, 0)]), "pread of \(count) at \(offset)")
            }
        }
    }
}
