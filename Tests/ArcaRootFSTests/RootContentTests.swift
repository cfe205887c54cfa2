import ArcaArchive
import ArcaCore
import ArcaCrypto
import ArcaRootFS
import ArcaTestSupport
import Dispatch
import Foundation
import Testing

/// Content through a real mount: every size around the chunk boundaries, both classes, whole
/// reads, random-offset reads, external readers, mmap, exec, and concurrent readers.
@Suite struct RootContentTests {
    static let sizes = [0, 1, 65_535, 65_536, 65_537, 3 * 1_048_576 + 123]

    /// `/data/f<size>` authenticated and `/app/f<size>` encrypted, plus the originals on disk.
    static func files() -> [(path: String, bytes: [UInt8])] {
        sizes.enumerated().flatMap { i, size in
            [("data/f\(size)", RootFixture.bytes(size, seed: UInt64(i))),
             ("app/f\(size)", RootFixture.bytes(size, seed: UInt64(100 + i)))]
        }
    }

    static func sealFiles(in dir: String, extra: [TarBuilder.Member] = []) throws -> (SealedTree, [(path: String, bytes: [UInt8])]) {
        let files = files()
        let members: [TarBuilder.Member] = [.directory("data"), .directory("app")] + files.map { .file($0.path, $0.bytes) } + extra
        let tree = try RootFixture.seal(members, encrypt: ["/app"], in: dir)
        for file in files {
            try FileSystem.makeDirectories(dir + "/orig/" + (file.path as NSString).deletingLastPathComponent)
            try FileSystem.writeAtomically(file.bytes, to: dir + "/orig/" + file.path)
        }
        return (tree, files)
    }

    @Test func contentsEqualTheOriginalsForEverySizeAndClass() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let (tree, files) = try Self.sealFiles(in: dir)
            #expect(tree.index.encryptedEntries.count == Self.sizes.count + 1)  // the files and /app
            #expect(!FileSystem.exists(tree.lower + "/app/f1"))  // encrypted content is not in the lower tree
            try RootFixture.withMount(tree) { mnt, _ throws in
                var generator = SystemRandomNumberGenerator()
                for file in files {
                    let path = mnt + "/" + file.path
                    #expect(try Posix.readAll(path).get() == file.bytes, "whole read of \(file.path)")
                    for _ in 0..<40 where !file.bytes.isEmpty {
                        let offset = Int.random(in: 0..<file.bytes.count, using: &generator)
                        let length = Int.random(in: 1...200_000, using: &generator)
                        let expected = Array(file.bytes[offset..<min(file.bytes.count, offset + length)])
                        #expect(try Posix.pread(path, offset: offset, length: length).get() == expected,
                                "\(file.path) at \(offset) for \(length)")
                    }
                    #expect(try Posix.pread(path, offset: file.bytes.count + 5, length: 10).get().isEmpty)
                    let cat = try Tool.run("sh", ["-c", "cat \"$1\" | cmp - \"$2\"", "sh", path, dir + "/orig/" + file.path])
                    #expect(cat.status == 0, "cat | cmp \(file.path): \(cat.stdout) \(cat.stderr)")
                    let cmp = try Tool.run("cmp", [path, dir + "/orig/" + file.path])
                    #expect(cmp.status == 0, "cmp \(file.path): \(cmp.stdout)")
                }
            }
        }
    }

    @Test func mmapAndExecWorkFromTheMount() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let busybox = try FileSystem.readFile("/bin/busybox", limit: 16 << 20)
            let script = Array("#!/bin/sh\necho \"script says $1\"\n".utf8)
            let model = RootFixture.bytes(1_000_003, seed: 7)
            let tree = try RootFixture.seal([.directory("bin"), .file("bin/busybox", busybox, mode: 0o755),
                                             .directory("app"), .file("app/run.sh", script, mode: 0o755),
                                             .file("app/model.bin", model)],
                                            encrypt: ["/app"], in: dir)
            try RootFixture.withMount(tree) { mnt, _ throws in
                let run = try Tool.run(mnt + "/bin/busybox", ["echo", "static binary runs"])
                #expect(run.status == 0)
                #expect(run.stdout == "static binary runs\n")
                let shell = try Tool.run(mnt + "/app/run.sh", ["from the encrypted region"])
                #expect(shell.stdout == "script says from the encrypted region\n", "\(shell.stderr)")
                let python = """
                    import hashlib, mmap, sys
                    with open(sys.argv[1], 'rb') as f:
                        m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
                        print(hashlib.sha256(m[:]).hexdigest(), m[12345], len(m))
                    """
                for (path, bytes) in [("app/model.bin", model), ("bin/busybox", busybox)] {
                    let result = try Tool.run("python3", ["-c", python, mnt + "/" + path])
                    #expect(result.stdout == "\(sha256Hex(bytes)) \(bytes[12345]) \(bytes.count)\n", "mmap of \(path): \(result.stderr)")
                }
            }
        }
    }

    @Test func concurrentReadersGetCorrectBytes() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let (tree, files) = try Self.sealFiles(in: dir)
            let nonEmpty = files.filter { !$0.bytes.isEmpty }
            try RootFixture.withMount(tree) { mnt, _ throws in
                let failures = LogCapture()
                DispatchQueue.concurrentPerform(iterations: 8) { worker in
                    var generator = SystemRandomNumberGenerator()
                    for round in 0..<30 {
                        let file = nonEmpty[(worker + round) % nonEmpty.count]
                        let offset = Int.random(in: 0..<file.bytes.count, using: &generator)
                        let length = Int.random(in: 1...300_000, using: &generator)
                        let got = Posix.pread(mnt + "/" + file.path, offset: offset, length: length)
                        if case .success(let bytes) = got, bytes == Array(file.bytes[offset..<min(file.bytes.count, offset + length)]) {
                            continue
                        }
                        failures.sink("worker \(worker): \(file.path) at \(offset)+\(length): \(got)")
                    }
                }
                #expect(failures.all.isEmpty, "\(failures.all.prefix(5))")
                // Several processes at once, on cold and warm files alike.
                let commands = files.map { "cmp \"$1/\($0.path)\" \"$2/\($0.path)\" &" }.joined(separator: "\n")
                let result = try Tool.run("sh", ["-c", "fail=0\n\(commands)\nfor j in $(jobs -p); do wait $j || fail=1; done\nexit $fail",
                                                 "sh", mnt, dir + "/orig"])
                #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
            }
        }
    }
}
