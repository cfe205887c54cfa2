import ArcaCore
import ArcaTestSupport
import Testing
@testable import ArcaArchive

/// Builds a merged tree from layers given as entry lists.
func buildRootfs(_ layers: [[(TarEntry, [UInt8])]], options: RootfsOptions = RootfsOptions()) throws -> (Rootfs, RootfsBuilder, [[UInt8]]) {
    let builder = RootfsBuilder(options: options)
    var tars: [[UInt8]] = []
    for (index, layer) in layers.enumerated() {
        let tar = try makeTar(layer)
        tars.append(tar)
        try builder.apply(layer: TarReader(MemorySource(tar)), layerIndex: index)
    }
    return (builder.rootfs(), builder, tars)
}

func file(_ path: String, _ text: String, mode: UInt32 = 0o644) -> (TarEntry, [UInt8]) {
    (TarEntry(path: path, type: .regular, mode: mode, size: Int64(text.utf8.count)), Array(text.utf8))
}

func dir(_ path: String, mode: UInt32 = 0o755, uid: Int = 0) -> (TarEntry, [UInt8]) {
    (TarEntry(path: path, type: .directory, mode: mode, uid: uid), [])
}

func entry(_ entry: TarEntry) -> (TarEntry, [UInt8]) { (entry, []) }

@Suite struct RootfsTests {
    @Test func whiteoutsRemoveLowerEntriesAndContentPointsIntoTheLayer() throws {
        let (rootfs, _, tars) = try buildRootfs([
            [dir("etc"), file("etc/a", "a"), file("etc/b", "b"), dir("etc/sub"), file("etc/sub/c", "c"), file("usr/bin/x", "old")],
            [file("etc/.wh.a", ""), file("etc/.wh.sub", ""), file("usr/bin/x", "new!"), file("etc/.wh.missing", "")],
        ])
        #expect(rootfs["etc/a"] == nil)
        #expect(rootfs["etc/sub"] == nil)
        #expect(rootfs["etc/sub/c"] == nil)
        #expect(rootfs["etc/.wh.a"] == nil)
        #expect(rootfs["etc/b"] != nil)
        let x = try #require(rootfs["usr/bin/x"])
        guard case .layer(let index, let offset, let size) = x.content else {
            Issue.record("usr/bin/x has no content")
            return
        }
        #expect(index == 1 && size == 4)
        #expect(Array(tars[1][Int(offset)..<Int(offset + size)]) == Array("new!".utf8))
    }

    @Test func opaqueWhiteoutHidesLowerContentsOnly() throws {
        let (rootfs, _, _) = try buildRootfs([
            [dir("d"), file("d/old", "1"), dir("d/sub"), file("d/sub/old2", "2"), dir("d/keep"), file("d/keep/lower", "3"), file("other", "o")],
            [file("d/before", "b"), file("d/keep/upper", "u"), dir("d"), file("d/.wh..wh..opq", ""), file("d/after", "a")],
        ])
        let paths = rootfs.items.map(\.path)
        #expect(paths == [".", "d", "d/after", "d/before", "d/keep", "d/keep/upper", "other"])
    }

    @Test func whiteoutsDoNotRemoveEntriesOfTheirOwnLayer() throws {
        let (rootfs, _, _) = try buildRootfs([
            [dir("d"), file("d/lower", "l")],
            [file("x", "made here"), file(".wh.x", ""), file(".wh.d", ""), dir("d"), file("d/new", "n")],
        ])
        #expect(rootfs["x"] != nil)
        #expect(rootfs["d/lower"] == nil)
        #expect(rootfs["d/new"] != nil)
    }

    @Test func replacementRules() throws {
        let (rootfs, _, _) = try buildRootfs([
            [dir("keep", mode: 0o700), file("keep/child", "c"), dir("gone"), file("gone/child", "c"), file("becomes-dir", "f")],
            [dir("keep", mode: 0o750, uid: 5), file("gone", "now a file"), dir("becomes-dir"), entry(.symlink("keep/link", to: "child"))],
        ])
        #expect(rootfs["keep"]?.mode == 0o750)
        #expect(rootfs["keep"]?.uid == 5)
        #expect(rootfs["keep/child"] != nil)
        #expect(rootfs["gone"]?.type == .regular)
        #expect(rootfs["gone/child"] == nil)
        #expect(rootfs["becomes-dir"]?.type == .directory)
        #expect(rootfs["keep/link"]?.linkTarget == "child")
    }

    @Test func implicitParentsAreRootOwned0755() throws {
        let (rootfs, _, _) = try buildRootfs([[(TarEntry(path: "a/b/c", type: .regular, mode: 0o600, uid: 1000, gid: 1000), [])]])
        #expect(rootfs.items.map(\.path) == [".", "a", "a/b", "a/b/c"])
        for path in ["a", "a/b"] {
            let node = try #require(rootfs[path])
            #expect(node.type == .directory && node.mode == 0o755 && node.uid == 0 && node.gid == 0)
        }
        #expect(rootfs["a/b/c"]?.uid == 1000)
    }

    @Test func walkOrderPutsParentsFirstAndSortsByBytes() throws {
        let (rootfs, _, _) = try buildRootfs([[file("a-b", ""), file("a/z", ""), file("B", ""), file("é", ""), file("a/a", "")]])
        #expect(rootfs.items.map(\.path) == [".", "B", "a", "a/a", "a/z", "a-b", "é"])
    }

    @Test func hardlinksResolveToTheTargetContent() throws {
        let (rootfs, _, _) = try buildRootfs([
            [file("bin/busybox", "binary", mode: 0o755)],
            [entry(.hardlink("bin/sh", to: "bin/busybox")), entry(.hardlink("bin/ls", to: "/bin/busybox")), file("single", "s")],
        ])
        let target = try #require(rootfs["bin/busybox"])
        let sh = try #require(rootfs["bin/sh"])
        #expect(sh.type == .regular && sh.content == target.content && sh.mode == 0o755)
        #expect(sh.hardlinkGroup == 1 && target.hardlinkGroup == 1 && rootfs["bin/ls"]?.hardlinkGroup == 1)
        #expect(rootfs["single"]?.hardlinkGroup == nil)
    }

    @Test func hardlinkToAMissingTargetIsRefused() throws {
        expectError(.notFound, mentioning: "\"h\"", "etc/passwd", "does not exist") {
            _ = try buildRootfs([[entry(.hardlink("h", to: "/etc/passwd"))]])
        }
    }

    @Test func hardlinkToANonRegularTargetIsRefused() throws {
        expectError(.invalidFormat, mentioning: "\"h\"", "directory") { _ = try buildRootfs([[dir("d"), entry(.hardlink("h", to: "d"))]]) }
        expectError(.invalidFormat, mentioning: "symlink") {
            _ = try buildRootfs([[entry(.symlink("s", to: "/etc/passwd")), entry(.hardlink("h", to: "s"))]])
        }
    }

    @Test func hardlinkThroughASymlinkIsRefused() throws {
        expectError(.unsafePath, mentioning: "\"h\"", "symlink") {
            _ = try buildRootfs([[dir("real"), file("real/f", "x"), entry(.symlink("s", to: "real")), entry(.hardlink("h", to: "s/f"))]])
        }
    }

    @Test func entryThroughASymlinkedParentIsRefused() throws {
        expectError(.unsafePath, mentioning: "link/file", "symlink \"link\"") {
            _ = try buildRootfs([[entry(.symlink("link", to: "/etc")), file("link/file", "x")]])
        }
        expectError(.unsafePath, mentioning: "up/pwned") {
            _ = try buildRootfs([[entry(.symlink("up", to: "../../.."))], [file("up/pwned", "x")]])
        }
        expectError(.unsafePath, mentioning: "symlink") {
            _ = try buildRootfs([[entry(.symlink("s", to: "/"))], [file("s/.wh.etc", "")]])
        }
    }

    @Test func rootReplacedBySymlinkIsRefused() throws {
        var raw = RawTar()
        raw.header(name: "./", type: "2", linkname: "/")
        raw.end()
        expectError(.unsafePath, mentioning: "root directory", "symlink") {
            try RootfsBuilder().apply(layer: TarReader(MemorySource(raw.bytes)), layerIndex: 0)
        }
        let (rootfs, _, _) = try buildRootfs([[dir(".", mode: 0o700)]])
        #expect(rootfs["."]?.mode == 0o700)
    }

    @Test func duplicateEntriesWarnOrAreRefused() throws {
        let layer = [file("dup", "first"), file("dup", "second!")]
        let (rootfs, builder, _) = try buildRootfs([layer])
        #expect(rootfs["dup"]?.size == 7)
        #expect(builder.warnings.count == 1)
        #expect(builder.warnings.first?.contains("\"dup\" more than once") == true)
        expectError(.invalidFormat, mentioning: "\"dup\"", "more than once") {
            _ = try buildRootfs([layer], options: RootfsOptions(refuseDuplicateEntries: true))
        }
        // The same path in two layers is an ordinary replacement, not a duplicate.
        let (_, second, _) = try buildRootfs([[file("dup", "1")], [file("dup", "2")]])
        #expect(second.warnings.isEmpty)
    }

    @Test func whiteoutNamingDotDotIsRefused() throws {
        for name in ["d/.wh...", "d/.wh..", "d/.wh."] {
            expectError(.unsafePath, mentioning: "whiteout") { _ = try buildRootfs([[dir("d")], [file(name, "")]]) }
        }
        let (_, builder, _) = try buildRootfs([[file(".wh..wh.plnk", "")]])
        #expect(builder.warnings.first?.contains("reserved") == true)
    }

    @Test func deviceNodesAreKeptOrRefused() throws {
        let null = entry(TarEntry(path: "dev/null", type: .characterDevice, mode: 0o666, deviceMajor: 1, deviceMinor: 3))
        let (rootfs, _, _) = try buildRootfs([[null]])
        #expect(rootfs["dev/null"]?.deviceMajor == 1 && rootfs["dev/null"]?.deviceMinor == 3)
        expectError(.unsupported, mentioning: "dev/null", "1:3", "allowDeviceNodes") {
            _ = try buildRootfs([[null]], options: RootfsOptions(allowDeviceNodes: false))
        }
    }

    @Test func parentThatIsAFileIsRefused() throws {
        expectError(.invalidFormat, mentioning: "f/child", "\"f\"", "regular") {
            _ = try buildRootfs([[file("f", "x"), file("f/child", "y")]])
        }
    }
}

@Suite struct DeepTreeTests {
    /// 2,000 nested directories (the 4096-byte path limit allows ~2,048): no recursion blows up.
    static let deep = Array(repeating: "d", count: 2000).joined(separator: "/")

    @Test func modelHandlesTheDeepestAllowedTree() throws {
        let layers = [[file(Self.deep + "/f", "bottom")], [file(".wh.d", "")]]
        let (rootfs, _, _) = try buildRootfs([layers[0]])
        #expect(rootfs.count == 2002)
        let (whitedOut, _, _) = try buildRootfs(layers)
        #expect(whitedOut.count == 1)
    }

    /// The extractor holds one descriptor per level while removing a tree, so stay under the
    /// common 1024-descriptor limit here.
    @Test func extractorHandlesADeepTree() async throws {
        let deep = Array(repeating: "d", count: 900).joined(separator: "/")
        try await Fixture.withTemporaryDirectory { base in
            let sandbox = try Sandbox(base)
            _ = try sandbox.extract([[file(deep + "/f", "bottom")], [file(".wh.d", "")]])
            #expect(try FileSystem.listDirectory(sandbox.target).isEmpty)
            try sandbox.checkNothingOutside()
        }
    }
}
