import ArcaCore
import ArcaTestSupport
import Testing
@testable import ArcaArchive

#if canImport(Glibc)
import Glibc
#endif

/// Tars made by GNU tar read right, and GNU tar reads ours.
@Suite struct GnuTarInteropTests {
    static let longName = String(repeating: "x", count: 200)

    /// Creates a small tree with a 200-character name, a deep path, links, and a special mode.
    func makeTree(_ root: String) throws -> [String: [UInt8]] {
        let deep = (0..<12).map { "level\($0)-" + String(repeating: "d", count: 10) }.joined(separator: "/")
        try FileSystem.makeDirectories(root + "/tree/" + deep)
        let files: [String: [UInt8]] = [
            "tree/" + Self.longName: pseudoRandomBytes(5000),
            "tree/" + deep + "/leaf.txt": Array("deep leaf\n".utf8),
            "tree/small": Array("small\n".utf8),
            "tree/empty": [],
        ]
        for (path, content) in files { try FileSystem.writeAtomically(content, to: root + "/" + path) }
        #expect(symlink("small", root + "/tree/link") == 0)
        #expect(link(root + "/tree/small", root + "/tree/hard") == 0)
        #expect(chmod(root + "/tree/small", 0o4750) == 0)
        #expect(mkfifo(root + "/tree/fifo", 0o640) == 0)
        return files
    }

    @Test(arguments: ["gnu", "pax", "ustar"])
    func readsGnuTarOutput(format: String) async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let files = try makeTree(directory)
            let tarPath = directory + "/out.tar"
            // ustar cannot hold a 200-byte single component, so leave that file out there.
            var arguments = ["tar", "--format=\(format)", "--sort=name", "-cf", tarPath]
            if format == "ustar" { arguments += ["--exclude=" + Self.longName] }
            arguments += ["tree"]
            let result = try run(arguments, directory: directory)
            #expect(result.status == 0)
            let read = try readTar(try FileSystem.readFile(tarPath, limit: 1 << 26))
            var byPath: [String: (entry: TarEntry, content: [UInt8])] = [:]
            for item in read { byPath[item.entry.path] = item }
            for (path, content) in files where format != "ustar" || !path.hasSuffix(Self.longName) {
                let item = try #require(byPath[path], "missing \(path)")
                #expect(item.entry.type == .regular || item.entry.type == .hardlink)
                if item.entry.type == .regular { #expect(item.content == content, "content of \(path)") }
            }
            let link = try #require(byPath["tree/link"])
            #expect(link.entry.type == .symlink)
            #expect(link.entry.linkTarget == "small")
            let hard = try #require(byPath["tree/hard"] ?? byPath["tree/small"])
            #expect([TarEntry.EntryType.regular, .hardlink].contains(hard.entry.type))
            let linked = read.first { $0.entry.type == .hardlink }
            #expect(linked.map { ["tree/small", "tree/hard"].contains($0.entry.linkTarget) } == true)
            #expect(byPath["tree/small"]?.entry.mode == 0o4750)
            #expect(byPath["tree/fifo"]?.entry.type == .fifo)
            #expect(byPath["tree"]?.entry.type == .directory)
            #expect(byPath["tree"]?.entry.uid == Int(getuid()))
        }
    }

    @Test func gnuTarReadsOurOutput() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let name300 = "long/" + String(repeating: "y", count: 200) + "/" + String(repeating: "z", count: 95)
            let entries: [(TarEntry, [UInt8])] = [
                (TarEntry(path: "long", type: .directory, mode: 0o755, modificationTime: TarTime(seconds: 1_600_000_000)), []),
                (TarEntry(path: name300, type: .regular, mode: 0o640, modificationTime: TarTime(seconds: 1_600_000_000, nanoseconds: 250_000_000),
                          size: 3000), pseudoRandomBytes(3000)),
                (TarEntry(path: "naïve.txt", type: .regular, size: 2), [1, 2]),
                (TarEntry(path: "sym", type: .symlink, mode: 0o777, linkTarget: String(repeating: "../t", count: 40)), []),
                (TarEntry(path: "hard", type: .hardlink, linkTarget: "naïve.txt"), []),
            ]
            let tarPath = directory + "/ours.tar"
            try FileSystem.writeAtomically(try makeTar(entries), to: tarPath)
            let listing = try run(["tar", "-tf", tarPath])
            #expect(listing.status == 0)
            let names = String(decoding: listing.output, as: UTF8.self).split(separator: "\n").map(String.init)
            #expect(names == ["long/", name300, "naïve.txt", "sym", "hard"])
            try FileSystem.makeDirectories(directory + "/x")
            #expect(try run(["tar", "-xf", tarPath, "-C", directory + "/x"]).status == 0)
            #expect(try FileSystem.readFile(directory + "/x/" + name300, limit: 1 << 20) == pseudoRandomBytes(3000))
            var info = stat()
            #expect(lstat(directory + "/x/" + name300, &info) == 0)
            #expect(info.st_mtim.tv_sec == 1_600_000_000)
            #expect(info.st_mtim.tv_nsec == 250_000_000)
            #expect(lstat(directory + "/x/hard", &info) == 0 && info.st_nlink == 2)
        }
    }
}
