import ArcaArchive
import ArcaCore
import ArcaRootFS
import ArcaShield
import ArcaTestSupport
import Foundation
import Testing

/// The host changes the lower tree or the blob: reads of the changed chunks fail with EIO and a
/// log line names the file; nothing else is affected and no wrong byte is ever returned.
@Suite struct RootTamperTests {
    static let chunk = 65_536

    static func flipByte(_ path: String, at offset: Int) throws {
        var bytes = try FileSystem.readFile(path, limit: 64 << 20)
        bytes[offset] ^= 0x01
        let fd = open(path, O_WRONLY)  // in place: the same inode, as a host editing the file would
        defer { close(fd) }
        _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + offset, 1, off_t(offset)) }
    }

    @Test func changedLowerFilesAreRefusedChunkByChunk() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let big = RootFixture.bytes(3 * Self.chunk + 100, seed: 1)
            let tree = try RootFixture.seal([.directory("lib"), .file("lib/flipped.so", big), .file("lib/truncated.so", big),
                                             .file("lib/swapped.so", big), .directory("lib/dir"), .file("lib/dir/inner", big),
                                             .file("lib/empty", [])],
                                            encrypt: [], in: dir)
            let lib = tree.lower + "/lib"
            try Self.flipByte(lib + "/flipped.so", at: Self.chunk + 17)
            #expect(truncate(lib + "/truncated.so", off_t(2 * Self.chunk + 5)) == 0)
            #expect(unlink(lib + "/swapped.so") == 0 && symlink("/etc/passwd", lib + "/swapped.so") == 0)
            try FileSystem.makeDirectories(dir + "/elsewhere")
            try FileSystem.writeAtomically(big, to: dir + "/elsewhere/inner")
            try FileSystem.removeTree(lib + "/dir")
            #expect(symlink(dir + "/elsewhere", lib + "/dir") == 0)  // a directory swapped for a link
            #expect(unlink(lib + "/empty") == 0)  // nothing to verify: the index says it is empty

            let log = LogCapture()
            try RootFixture.withMount(tree, log: log) { mnt, _ throws in
                let flipped = mnt + "/lib/flipped.so"
                #expect(try Posix.pread(flipped, offset: 0, length: Self.chunk).get() == Array(big[..<Self.chunk]))
                #expect(Posix.pread(flipped, offset: Self.chunk, length: 10) == .failure(.io))
                #expect(Posix.pread(flipped, offset: Self.chunk + 17, length: 1) == .failure(.io))
                #expect(try Posix.pread(flipped, offset: 2 * Self.chunk, length: Self.chunk + 100).get() == Array(big[(2 * Self.chunk)...]))
                #expect(Posix.readAll(flipped) == .failure(.io))
                #expect(try Tool.run("cat", [flipped]).status != 0)

                let truncated = mnt + "/lib/truncated.so"
                #expect(try Posix.pread(truncated, offset: 0, length: 2 * Self.chunk).get() == Array(big[..<(2 * Self.chunk)]))
                #expect(Posix.pread(truncated, offset: 2 * Self.chunk, length: 10) == .failure(.io))
                #expect(Posix.pread(truncated, offset: 3 * Self.chunk, length: 10) == .failure(.io))
                #expect(try Posix.lstat(truncated).st_size == Int(big.count))  // size from the index

                let passwd = try FileSystem.readFile("/etc/passwd", limit: 1 << 20)
                for path in [mnt + "/lib/swapped.so", mnt + "/lib/dir/inner"] {
                    let result = Posix.readAll(path)
                    #expect(result == .failure(.io), "\(path)")
                    if case .success(let bytes) = result { #expect(bytes != passwd && bytes != big) }
                }
                #expect(try Posix.readAll(mnt + "/lib/empty").get().isEmpty)
            }
            let lines = log.all
            #expect(lines.contains { $0.contains("/lib/flipped.so chunk 1:") && $0.contains("SHA-256") }, "\(lines)")
            #expect(!lines.contains { $0.contains("/lib/flipped.so chunk 0") || $0.contains("/lib/flipped.so chunk 2") })
            #expect(lines.filter { $0.contains("/lib/flipped.so chunk 1:") }.count == 1, "one line per chunk: \(lines)")
            #expect(lines.contains { $0.contains("/lib/truncated.so chunk 2:") && $0.contains("truncated") })
            #expect(lines.contains { $0.contains("/lib/swapped.so") && $0.contains("symlink") })
            #expect(lines.contains { $0.contains("/lib/dir/inner") && $0.contains("symlink") })
        }
    }

    @Test func changedBlobIsRefusedForTheFilesInThatChunk() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let first = RootFixture.bytes(2 * Self.chunk, seed: 2)   // stream chunks 0 and 1
            let second = RootFixture.bytes(Self.chunk, seed: 3)      // stream chunk 2
            let tree = try RootFixture.seal([.directory("app"), .file("app/a.bin", first), .file("app/b.bin", second)],
                                            encrypt: ["/app"], in: dir)
            // Blob chunk 1 (the second half of a.bin): header 64 bytes, then chunks of C + 16.
            try Self.flipByte(tree.blobPath, at: 64 + (Self.chunk + 16) + 1000)
            let log = LogCapture()
            try RootFixture.withMount(tree, log: log) { mnt, _ throws in
                #expect(try Posix.pread(mnt + "/app/a.bin", offset: 0, length: Self.chunk).get() == Array(first[..<Self.chunk]))
                #expect(Posix.pread(mnt + "/app/a.bin", offset: Self.chunk, length: 10) == .failure(.io))
                #expect(Posix.readAll(mnt + "/app/a.bin") == .failure(.io))
                #expect(try Posix.readAll(mnt + "/app/b.bin").get() == second)
            }
            #expect(log.all.contains { $0.contains("/app/a.bin chunk 1:") && $0.contains("blob chunk 1") }, "\(log.all)")
            #expect(!log.all.contains { $0.contains("b.bin") })
        }
    }

    @Test func withoutTheKeyOnlyAuthenticatedEntriesAreServed() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let sealed = try RootFixture.seal([.directory("app"), .file("app/secret", Array("s".utf8)), .directory("etc"),
                                               .file("etc/public", Array("p".utf8))], encrypt: ["/app"], in: dir)
            let index = try ShieldIndex.parse(sealed.indexBytes, expectedRoot: sealed.index.root, masterKey: nil)
            #expect(index.isLocked)
            let locked = SealedTree(directory: sealed.directory, lower: sealed.lower, blobPath: sealed.blobPath,
                                    indexBytes: sealed.indexBytes, index: index)
            try RootFixture.withMount(locked, masterKey: nil) { mnt, _ throws in
                #expect(try FileSystem.listDirectory(mnt) .contains("etc"))
                #expect(!FileSystem.exists(mnt + "/app/secret"))
                #expect(try Posix.readAll(mnt + "/etc/public").get() == Array("p".utf8))
            }
        }
    }
}
