import ArcaCore
import ArcaTestSupport
import Testing
@testable import ArcaArchive

#if canImport(Glibc)
import Glibc
#endif

/// A target directory beside an "outside" directory holding a victim file; `check` proves
/// that nothing outside the target was created, changed or removed.
struct Sandbox {
    let base: String
    var target: String { base + "/root" }
    var victim: String { base + "/outside/victim" }

    init(_ base: String) throws {
        self.base = base
        try FileSystem.makeDirectories(base + "/root")
        try FileSystem.makeDirectories(base + "/outside")
        try FileSystem.writeAtomically(Array("original".utf8), to: base + "/outside/victim")
    }

    func extract(_ layers: [[(TarEntry, [UInt8])]], options: ExtractorOptions = ExtractorOptions()) throws -> RootfsExtractor {
        let extractor = try RootfsExtractor(directory: target, options: options)
        for layer in layers { try extractor.apply(layer: TarReader(MemorySource(try makeTar(layer)))) }
        try extractor.finish()
        return extractor
    }

    func extractRaw(_ tar: [UInt8]) throws {
        let extractor = try RootfsExtractor(directory: target)
        try extractor.apply(layer: TarReader(MemorySource(tar)))
        try extractor.finish()
    }

    func checkNothingOutside(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let outside = try listTree(base).filter { $0 != "root" && !$0.hasPrefix("root/") }
        #expect(outside == ["outside", "outside/victim"], sourceLocation: sourceLocation)
        #expect(try FileSystem.readFile(victim, limit: 100) == Array("original".utf8), sourceLocation: sourceLocation)
        var info = stat()
        #expect(lstat(victim, &info) == 0 && info.st_nlink == 1, "victim was hardlinked", sourceLocation: sourceLocation)
    }

    func contents(_ path: String) throws -> [UInt8] { try FileSystem.readFile(target + "/" + path, limit: 1 << 20) }
}

@Suite struct ExtractorTests {
    static let layers: [[(TarEntry, [UInt8])]] = [
        [
            dir("."),
            dir("etc"),
            (TarEntry(path: "etc/passwd", type: .regular, mode: 0o644, modificationTime: TarTime(seconds: 1_500_000_000, nanoseconds: 987_654_321),
                      size: 11), Array("root:x:0:0\n".utf8)),
            file("etc/old", "old"),
            (TarEntry(path: "bin/tool", type: .regular, mode: 0o4755, uid: 0, size: 4), Array("tool".utf8)),
            entry(.hardlink("bin/alias", to: "bin/tool")),
            entry(.symlink("lib", to: "usr/lib")),
            entry(TarEntry(path: "run/fifo", type: .fifo, mode: 0o600)),
            dir("opaque"), file("opaque/lower", "l"),
            (TarEntry(path: "data", type: .directory, mode: 0o750, modificationTime: TarTime(seconds: 1_000_000, nanoseconds: 5)), []),
            (TarEntry(path: "data/x", type: .regular, size: 1, xattrs: ["user.arca": Array("yes".utf8)]), [1]),
        ],
        [
            file("etc/.wh.old", ""),
            file("opaque/.wh..wh..opq", ""), file("opaque/upper", "u"),
            file("etc/passwd", "root:x:0:0:replaced\n"),
        ],
    ]

    @Test func extractsLayersLikeTheModel() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let sandbox = try Sandbox(base)
            let extractor = try sandbox.extract(Self.layers)
            #expect(try sandbox.contents("etc/passwd") == Array("root:x:0:0:replaced\n".utf8))
            #expect(!FileSystem.exists(sandbox.target + "/etc/old"))
            #expect(!FileSystem.exists(sandbox.target + "/opaque/lower"))
            #expect(try sandbox.contents("opaque/upper") == Array("u".utf8))
            var info = stat()
            #expect(lstat(sandbox.target + "/bin/alias", &info) == 0 && info.st_nlink == 2)
            #expect(lstat(sandbox.target + "/data", &info) == 0)
            #expect(info.st_mode & 0o7777 == 0o750)
            #expect(info.st_mtim.tv_sec == 1_000_000 && info.st_mtim.tv_nsec == 5)
            #expect(lstat(sandbox.target + "/run/fifo", &info) == 0 && info.st_mode & S_IFMT == S_IFIFO)
            // user.* xattrs are either set or reported as skipped.
            let fd = open(sandbox.target + "/data/x", O_RDONLY)
            defer { close(fd) }
            let set = ExtendedAttributes.all(fd)["user.arca"] == Array("yes".utf8)
            #expect(set || extractor.warnings.contains { $0.contains("user.arca") })

            // The model of the same layers describes the same tree.
            let (rootfs, _, tars) = try buildRootfs(Self.layers)
            let fromModel = try TreeManifest.lines(rootfs: rootfs) { MemorySource(tars[$0]) }
            var fromDisk = try TreeManifest.lines(directory: sandbox.target)
            if geteuid() != 0 {
                // Without root the owners are ours; compare the rest.
                fromDisk = fromDisk.map { line in
                    var fields = line.split(separator: " ").map(String.init)
                    fields[3] = "0"
                    fields[4] = "0"
                    return fields.joined(separator: " ")
                }
            }
            #expect(fromDisk == fromModel)
            #expect(fromModel.contains { $0.hasPrefix("bin/tool file 4755 0 0 4 ") })
            try sandbox.checkNothingOutside()
        }
    }

    @Test func dotDotNamesAreRefusedAndNothingIsWrittenOutside() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let sandbox = try Sandbox(base)
            var raw = RawTar()
            raw.header(name: "../outside/victim", size: 5)
            raw.data(Array("pwned".utf8))
            raw.end()
            expectError(.unsafePath, mentioning: "../outside/victim") { try sandbox.extractRaw(raw.bytes) }
            try sandbox.checkNothingOutside()
        }
    }

    @Test func absoluteNamesLandInsideTheTarget() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let sandbox = try Sandbox(base)
            var raw = RawTar()
            raw.header(name: base + "/outside/victim", size: 5)
            raw.data(Array("pwned".utf8))
            raw.end()
            try sandbox.extractRaw(raw.bytes)
            #expect(try sandbox.contents(String(base.dropFirst()) + "/outside/victim") == Array("pwned".utf8))
            try sandbox.checkNothingOutside()
        }
    }

    @Test func writingThroughAPlantedSymlinkIsRefused() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let sandbox = try Sandbox(base)
            expectError(.unsafePath, mentioning: "escape/victim", "symlink \"escape\"") {
                _ = try sandbox.extract([[entry(.symlink("escape", to: "../outside")), file("escape/victim", "pwned")]])
            }
            try sandbox.checkNothingOutside()
        }
    }

    @Test func symlinkToRootThenFileUnderItIsRefused() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let sandbox = try Sandbox(base)
            expectError(.unsafePath, mentioning: "symlink \"slash\"") {
                _ = try sandbox.extract([[entry(.symlink("slash", to: "/"))], [file("slash" + base + "/outside/new", "pwned")]])
            }
            try sandbox.checkNothingOutside()
        }
    }

    @Test func hardlinkToAHostFileIsRefused() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let sandbox = try Sandbox(base)
            expectError(.notFound, mentioning: "\"pw\"", "does not exist") {
                _ = try sandbox.extract([[entry(.hardlink("pw", to: "/etc/passwd"))]])
            }
            expectError(.notFound, mentioning: "\"v\"") {
                _ = try sandbox.extract([[entry(.hardlink("v", to: base + "/outside/victim"))]])
            }
            var raw = RawTar()
            raw.header(name: "up", type: "1", linkname: "../outside/victim")
            raw.end()
            expectError(.unsafePath, mentioning: "../outside/victim") { try sandbox.extractRaw(raw.bytes) }
            try sandbox.checkNothingOutside()
        }
    }

    @Test func hardlinkThroughAPlantedSymlinkIsRefused() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let sandbox = try Sandbox(base)
            expectError(.unsafePath, mentioning: "\"h\"", "symlink \"out\"") {
                _ = try sandbox.extract([[entry(.symlink("out", to: "../outside")), entry(.hardlink("h", to: "out/victim"))]])
            }
            expectError(.invalidFormat, mentioning: "not a regular file") {
                _ = try sandbox.extract([[entry(.symlink("direct", to: "../outside/victim")), entry(.hardlink("h2", to: "direct"))]])
            }
            try sandbox.checkNothingOutside()
        }
    }

    @Test func hardlinkToAMissingTargetIsRefused() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let sandbox = try Sandbox(base)
            expectError(.notFound, mentioning: "\"h\"", "nowhere/file") { _ = try sandbox.extract([[entry(.hardlink("h", to: "nowhere/file"))]]) }
            try sandbox.checkNothingOutside()
        }
    }

    @Test func rootReplacedBySymlinkIsRefused() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let sandbox = try Sandbox(base)
            var raw = RawTar()
            raw.header(name: "./", type: "2", linkname: "../outside")
            raw.header(name: "./victim", size: 5)
            raw.data(Array("pwned".utf8))
            raw.end()
            expectError(.unsafePath, mentioning: "root directory", "symlink") { try sandbox.extractRaw(raw.bytes) }
            try sandbox.checkNothingOutside()
        }
    }

    @Test func replacingAPlantedSymlinkWritesInsideOnly() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let sandbox = try Sandbox(base)
            let extractor = try sandbox.extract([
                [entry(.symlink("file", to: "../outside/victim")), entry(.symlink("dir", to: "../outside"))],
                [file("file", "pwned"), dir("dir"), file("dir/victim", "inside")],
            ])
            #expect(try sandbox.contents("file") == Array("pwned".utf8))
            #expect(try sandbox.contents("dir/victim") == Array("inside".utf8))
            #expect(extractor.warnings.isEmpty)
            try sandbox.checkNothingOutside()
        }
    }

    @Test func whiteoutThroughASymlinkIsRefused() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let sandbox = try Sandbox(base)
            expectError(.unsafePath, mentioning: "symlink \"out\"") {
                _ = try sandbox.extract([[entry(.symlink("out", to: "../outside"))], [file("out/.wh.victim", "")]])
            }
            expectError(.unsafePath, mentioning: "symlink \"out2\"") {
                _ = try sandbox.extract([[entry(.symlink("out2", to: "../outside"))], [file("out2/.wh..wh..opq", "")]])
            }
            try sandbox.checkNothingOutside()
        }
    }

    @Test func whiteoutNamingDotDotIsRefused() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let sandbox = try Sandbox(base)
            expectError(.unsafePath, mentioning: "whiteout", "\"..\"") {
                _ = try sandbox.extract([[dir("d")], [file("d/.wh...", "")]])
            }
            #expect(FileSystem.isDirectory(sandbox.target + "/d"))
            try sandbox.checkNothingOutside()
        }
    }

    @Test func deviceNodesAreRefusedUnlessAllowed() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let sandbox = try Sandbox(base)
            let null = entry(TarEntry(path: "dev/null", type: .characterDevice, mode: 0o666, deviceMajor: 1, deviceMinor: 3))
            expectError(.unsupported, mentioning: "dev/null", "1:3", "allowDeviceNodes") { _ = try sandbox.extract([[null]]) }
            #expect(!FileSystem.exists(sandbox.target + "/dev/null"))
            if geteuid() == 0 {
                _ = try sandbox.extract([[null]], options: ExtractorOptions(allowDeviceNodes: true))
                var info = stat()
                #expect(lstat(sandbox.target + "/dev/null", &info) == 0)
                #expect(info.st_mode & S_IFMT == S_IFCHR)
                #expect(splitDevice(info.st_rdev) == (1, 3))
            }
            try sandbox.checkNothingOutside()
        }
    }

    @Test func duplicateEntriesLaterWinsWithAWarning() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let sandbox = try Sandbox(base)
            let extractor = try sandbox.extract([[file("dup", "first"), entry(.symlink("dup", to: "../outside/victim")), file("dup", "third")]])
            #expect(try sandbox.contents("dup") == Array("third".utf8))
            #expect(extractor.warnings.filter { $0.contains("\"dup\" more than once") }.count == 2)
            try sandbox.checkNothingOutside()
        }
    }

    @Test func opaqueWhiteoutKeepsOnlyTheUpperLayer() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let sandbox = try Sandbox(base)
            _ = try sandbox.extract([
                [dir("d"), file("d/a", "a"), dir("d/sub"), file("d/sub/b", "b"), file("d/sub/c", "c")],
                [file("d/sub/new", "n"), file("d/.wh..wh..opq", ""), file("d/after", "z")],
            ])
            #expect(try listTree(sandbox.target) == ["d", "d/after", "d/sub", "d/sub/new"])
            try sandbox.checkNothingOutside()
        }
    }

    @Test func truncatedLayerFailsCleanly() async throws {
        try await Fixture.withTemporaryDirectory { base in
            let sandbox = try Sandbox(base)
            let tar = try makeTar([file("big", String(repeating: "x", count: 5000))])
            expectError(.invalidFormat, mentioning: "\"big\"", "truncated") { try sandbox.extractRaw(Array(tar.prefix(3000))) }
            try sandbox.checkNothingOutside()
        }
    }
}
