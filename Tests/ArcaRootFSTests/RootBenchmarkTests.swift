import ArcaCore
import ArcaCrypto
import ArcaRootFS
import ArcaShield
import ArcaTestSupport
import Foundation
import Testing

/// Not a test: the throughput numbers of docs/FUSE.md, run only with `ARCA_FUSE_BENCH=1`
/// (release build recommended). Compares reads through the mount with `cat` of the plain file
/// in the same run and prints the ratios; asserts only that the bytes are right.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["ARCA_FUSE_BENCH"] == "1"))
struct RootBenchmarkTests {
    static let size = 256 << 20
    static let directories = 40
    static let filesPerDirectory = 100

    @Test func sequentialReadAndColdListing() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let data = RootFixture.bytes(Self.size, seed: 99)
            try FileSystem.makeDirectories(dir + "/lower/tree")
            try FileSystem.writeAtomically(data, to: dir + "/plain.bin")
            try FileSystem.writeAtomically(data, to: dir + "/lower/auth.bin")
            var inputs = [
                ShieldInput(entry: IndexEntry(path: "/auth.bin", type: .regular, size: UInt64(Self.size)), content: MemoryBytes(data)),
                ShieldInput(entry: IndexEntry(path: "/enc.bin", type: .regular, protection: .encrypted, size: UInt64(Self.size)),
                            content: MemoryBytes(data)),
                ShieldInput(entry: IndexEntry(path: "/tree", type: .directory)),
            ]
            for d in 0..<Self.directories {
                let name = String(format: "/tree/d%03d", d)
                inputs.append(ShieldInput(entry: IndexEntry(path: name, type: .directory)))
                try FileSystem.makeDirectories(dir + "/lower" + name)
                for f in 0..<Self.filesPerDirectory {
                    let bytes = Array("\(d)/\(f)\n".utf8)
                    let path = name + String(format: "/f%03d", f)
                    inputs.append(ShieldInput(entry: IndexEntry(path: path, type: .regular, size: UInt64(bytes.count)), content: MemoryBytes(bytes)))
                    try FileSystem.writeAtomically(bytes, to: dir + "/lower" + path)
                }
            }
            inputs.sort { $0.entry.path.utf8.lexicographicallyPrecedes($1.entry.path.utf8) }
            let blob = try FileSink(path: dir + "/blob")
            let written = try ShieldWriter.write(inputs, masterKey: RootFixture.masterKey, blob: blob)
            try blob.finish()
            let index = try ShieldIndex.parse(written.index.bytes, expectedRoot: written.index.root, masterKey: RootFixture.masterKey)
            let tree = SealedTree(directory: dir, lower: dir + "/lower", blobPath: dir + "/blob", indexBytes: written.index.bytes, index: index)
            let expected = sha256Hex(data)

            try RootFixture.withMount(tree, timeout: 600) { mnt, root throws in
                func timed(_ command: String) throws -> Double {
                    let start = Date()
                    let result = try Tool.run("sh", ["-c", command])
                    #expect(result.status == 0, "\(command): \(result.stderr)")
                    return Date().timeIntervalSince(start)
                }
                let mib = Double(Self.size) / 1_048_576
                let listing = try timed("ls -R \(mnt)/tree > /dev/null")
                let plain = try timed("cat \(dir)/plain.bin > /dev/null")
                let encrypted = try timed("cat \(mnt)/enc.bin > /dev/null")
                let encryptedAgain = try timed("cat \(mnt)/enc.bin > /dev/null")
                let authenticated = try timed("cat \(mnt)/auth.bin > /dev/null")
                let listingAgain = try timed("ls -R \(mnt)/tree > /dev/null")
                let sum = try Tool.run("sh", ["-c", "sha256sum \(mnt)/enc.bin \(mnt)/auth.bin"]).stdout
                #expect(sum.components(separatedBy: expected).count == 3)
                let entries = Self.directories * (Self.filesPerDirectory + 1)
                print(String(format: """
                    fuse bench: %d MiB, %d listed entries (%d inodes)
                      cat plain file (page cache)      %7.0f MiB/s
                      cat encrypted, cold in FUSE      %7.0f MiB/s  (%.2fx plain)
                      cat encrypted, kept page cache   %7.0f MiB/s
                      cat authenticated, cold in FUSE  %7.0f MiB/s  (%.2fx plain)
                      ls -R cold %.3f s, warm %.3f s
                    """, Self.size >> 20, entries, root.inodeCount, mib / plain, mib / encrypted, plain / encrypted,
                    mib / encryptedAgain, mib / authenticated, plain / authenticated, listing, listingAgain))
            }
        }
    }
}
