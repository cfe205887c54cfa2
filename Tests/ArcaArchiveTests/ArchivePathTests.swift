import ArcaCore
import Testing
@testable import ArcaArchive

@Suite struct ArchivePathTests {
    @Test(arguments: [
        ("./etc/passwd", "etc/passwd"), ("/etc//passwd", "etc/passwd"), ("etc/./x/", "etc/x"), ("./", "."), ("/", "."),
        (".", "."), ("a/b/../c", "a/c"), ("a/..", "."), ("///a", "a"), ("a/b/../../c", "c"),
    ])
    func normalizes(_ name: String, _ expected: String) throws {
        #expect(try ArchivePath.normalize(name) == expected)
    }

    @Test(arguments: ["..", "../a", "a/../..", "./../x", "a/b/../../../c", "/.."])
    func refusesEscapes(_ name: String) {
        expectError(.unsafePath, mentioning: "leaves the root") { _ = try ArchivePath.normalize(name) }
    }

    @Test func componentsParentAndBase() {
        #expect(ArchivePath.components("a/b/c") == ["a", "b", "c"])
        #expect(ArchivePath.components(".").isEmpty)
        #expect(ArchivePath.parent("a/b/c") == "a/b")
        #expect(ArchivePath.parent("a") == ".")
        #expect(ArchivePath.baseName("a/b/c") == "c")
        #expect(ArchivePath.join(".", "a") == "a")
        #expect(ArchivePath.join("a", "b") == "a/b")
    }

    @Test func classifiesWhiteouts() throws {
        #expect(try Whiteout.classify(baseName: "file", path: "file") == .none)
        #expect(try Whiteout.classify(baseName: ".wh..wh..opq", path: "d/.wh..wh..opq") == .opaque)
        #expect(try Whiteout.classify(baseName: ".wh.file", path: "d/.wh.file") == .remove("file"))
        #expect(try Whiteout.classify(baseName: ".wh..hidden", path: ".wh..hidden") == .remove(".hidden"))
        #expect(try Whiteout.classify(baseName: ".wh..wh.plnk", path: ".wh..wh.plnk") == .reserved)
        #expect(Whiteout.removalName(for: "etc/passwd") == "etc/.wh.passwd")
        #expect(Whiteout.removalName(for: "top") == ".wh.top")
        #expect(Whiteout.opaqueName(in: "var/cache") == "var/cache/.wh..wh..opq")
        #expect(Whiteout.opaqueName(in: ".") == ".wh..wh..opq")
        for bad in [".wh.", ".wh..", ".wh..."] {
            expectError(.unsafePath, mentioning: "whiteout") { _ = try Whiteout.classify(baseName: bad, path: bad) }
        }
    }

    @Test func writerRefusesANonDirectoryRoot() {
        let writer = TarWriter(sink: MemorySink())
        expectError(.invalidArgument, mentioning: "root", "symlink") {
            try writer.append(TarEntry(path: "/", type: .symlink, linkTarget: "/etc"), content: nil)
        }
    }
}
