import ArcaArchive
import ArcaCore
import ArcaTestSupport
import Glibc
import Testing
@testable import ArcaRuntimeLayer

@Suite("Runtime layer contents")
struct RuntimeLayerTests {
    @Test("the layer lists exactly the binary, the loader, its link and the needed libraries")
    func lists() throws {
        let binary = try RuntimeFixtures.arcaInit()
        let (tar, summary) = try RuntimeFixtures.layer(binary)
        let entries = try RuntimeFixtures.entries(tar)
        let (elf, _) = try ELFFile.load(path: binary, limit: 1 << 30)
        let loader = ArchivePath.baseName(try #require(elf.interpreter))
        // glibc's ldd is the oracle: every "name => path" line (not the vDSO, not the loader).
        let ldd = try Tool.check("ldd", [binary]).stdout
        let libraries = ldd.split(separator: "\n").filter { $0.contains(" => ") }
            .compactMap { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map(String.init) }
        #expect(libraries.contains("libc.so.6"))
        var expected = [".arca", ".arca/bin", ".arca/bin/arca-init", ".arca/lib", ".arca/lib/" + loader, ".arca/lib/ld.so"]
        expected += libraries.map { ".arca/lib/" + $0 }
        #expect(entries.map(\.path) == expected.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        #expect(summary.paths.map { String($0.dropFirst()) } == entries.map(\.path))
        for entry in entries {
            #expect(entry.uid == 0 && entry.gid == 0, "\(entry.path) is owned by root")
            switch entry.type {
            case .directory: #expect(entry.mode == 0o755)
            case .symlink: #expect(entry.path == ".arca/lib/ld.so" && entry.linkTarget == loader)
            case .regular:
                let executable = entry.path == ".arca/bin/arca-init" || entry.path == ".arca/lib/" + loader
                #expect(entry.mode == (executable ? 0o755 : 0o644), "mode of \(entry.path)")
            default: Issue.record("unexpected \(entry.type) \(entry.path)")
            }
        }
        #expect(summary.size == Int64(tar.count))
        #expect(summary.digest == "sha256:" + sha256Hex(tar))
    }

    @Test("the shipped binary names /.arca/lib/ld.so as its loader; the libraries are the host's bytes")
    func contents() throws {
        let binary = try RuntimeFixtures.arcaInit()
        let members = try RuntimeLayer.members(arcaInit: binary)
        let shipped = try #require(members.first { $0.path == RuntimeLayer.binaryPath })
        guard case .file(let bytes) = shipped.content else { Issue.record("arca-init is not a file"); return }
        let elf = try ELFFile(bytes: bytes, name: "shipped")
        #expect(elf.interpreter == RuntimeLayer.interpreterPath)
        let original = try FileSystem.readFile(binary, limit: 1 << 30)
        #expect(bytes.count == original.count)
        #expect(zip(bytes, original).filter { $0 != $1 }.count <= 28, "only PT_INTERP changes")
        let libc = try #require(members.first { $0.path == "/.arca/lib/libc.so.6" })
        #expect(libc.content == .file(try FileSystem.readFile(libc.source, limit: 64 << 20)))
    }

    @Test("the layer is byte-identical when built twice")
    func deterministic() throws {
        let binary = try RuntimeFixtures.arcaInit()
        let first = try RuntimeFixtures.layer(binary, time: 1_700_000_000)
        let second = try RuntimeFixtures.layer(binary, time: 1_700_000_000)
        #expect(first.bytes == second.bytes)
        #expect(first.summary == second.summary)
    }

    @Test("every entry carries the given time, and the time changes the digest")
    func time() throws {
        let binary = try RuntimeFixtures.arcaInit()
        let epoch = try RuntimeFixtures.layer(binary, time: 0)
        let later = try RuntimeFixtures.layer(binary, time: 1_234_567_890)
        #expect(try RuntimeFixtures.entries(epoch.bytes).allSatisfy { $0.modificationTime == TarTime(seconds: 0) })
        #expect(try RuntimeFixtures.entries(later.bytes).allSatisfy { $0.modificationTime == TarTime(seconds: 1_234_567_890) })
        #expect(epoch.summary.digest != later.summary.digest)
        #expect(epoch.bytes.count == later.bytes.count)
    }

    @Test("a non-ELF or truncated arca-init gives a clear error")
    func hostileBinary() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let script = dir + "/script"
            try FileSystem.writeAtomically(Array("#!/bin/sh\necho arca-init 0.1.0\n".utf8), to: script)
            let notELF = try #require(throws: ArcaError.self) { _ = try RuntimeFixtures.layer(script) }
            #expect(notELF.code == .invalidFormat)
            #expect(notELF.message.contains(script) && notELF.message.contains("not an ELF"))

            let real = try FileSystem.readFile(try RuntimeFixtures.arcaInit(), limit: 1 << 30)
            for length in [10, 64, 1000, real.count / 2, real.count - 1] {
                let truncated = dir + "/truncated-\(length)"
                try FileSystem.writeAtomically(Array(real[..<length]), to: truncated)
                let error = try #require(throws: ArcaError.self) { _ = try RuntimeFixtures.layer(truncated) }
                #expect(error.code == .invalidFormat, "\(error)")
                #expect(error.message.contains("truncated"), "\(error)")
            }

            let missing = try #require(throws: ArcaError.self) { _ = try RuntimeFixtures.layer(dir + "/none") }
            #expect(missing.code == .notFound)
            let directory = try #require(throws: ArcaError.self) { _ = try RuntimeFixtures.layer(dir) }
            #expect(directory.message.contains(dir))
        }
    }

    @Test("a binary that would load the base image's libraries is refused")
    func runPathChecks() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            // No run path at all: the loader would search the image's /lib.
            let bare = try SyntheticELF(type: 3, needed: ["libc.so.6"]).write(to: dir + "/bare")
            let noPath = try #require(throws: ArcaError.self) { _ = try RuntimeLayer.members(arcaInit: bare) }
            #expect(noPath.code == .unsupported && noPath.message.contains("/.arca/lib"))
            // A run path into the image (as a dynamically linked Swift runtime adds).
            let outside = try SyntheticELF(needed: ["libc.so.6"], rpath: "/.arca/lib:/opt/swift/usr/lib/swift/linux").write(to: dir + "/outside")
            let escape = try #require(throws: ArcaError.self) { _ = try RuntimeLayer.members(arcaInit: outside) }
            #expect(escape.message.contains("/opt/swift/usr/lib/swift/linux"))
            // /bin/true from Debian: no run path.
            #expect(throws: ArcaError.self) { _ = try RuntimeLayer.members(arcaInit: "/bin/true") }
        }
    }

    @Test("a shared library given as arca-init is refused")
    func library() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let library = try SyntheticELF(interpreter: nil, soname: "libx.so").write(to: dir + "/libx.so")
            let error = try #require(throws: ArcaError.self) { _ = try RuntimeLayer.members(arcaInit: library) }
            #expect(error.code == .invalidArgument && error.message.contains("shared library"))
        }
    }

    @Test("a static binary ships alone")
    func staticBinary() throws {
        let members = try RuntimeLayer.members(arcaInit: "/bin/busybox")
        #expect(members.map(\.path) == ["/.arca", "/.arca/bin", "/.arca/bin/arca-init"])
    }
}

@Suite("Library resolution")
struct LibraryResolverTests {
    @Test("resolves recursively, once per name, through cycles, skipping other machines and dangling links")
    func recursive() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            try FileSystem.makeDirectories(dir + "/first")
            try FileSystem.makeDirectories(dir + "/second")
            try SyntheticELF(machine: 183, soname: "libb.so").write(to: dir + "/first/libb.so")     // wrong machine: skipped
            try FileSystem.writeAtomically(Array("not elf".utf8), to: dir + "/first/libc.so")         // not ELF: skipped
            try SyntheticELF(needed: ["libb.so"], soname: "liba.so").write(to: dir + "/first/liba.so")
            try SyntheticELF(needed: ["liba.so", "libc.so"], soname: "libb.so").write(to: dir + "/second/libb.so")
            try SyntheticELF(needed: ["ld-linux-x86-64.so.2"], soname: "libc.so").write(to: dir + "/second/libc.so")
            let root = try ELFFile(bytes: SyntheticELF(type: 2, needed: ["liba.so", "libb.so"]).build().bytes, name: "root")
            try FileSystem.makeDirectories(dir + "/dangling")
            try Tool.check("ln", ["-s", dir + "/nowhere", dir + "/dangling/liba.so"])               // dangling link: skipped
            let resolver = LibraryResolver(searchDirectories: [dir + "/dangling", dir + "/first", dir + "/second"])
            let found = try resolver.resolve(root, provided: ["ld-linux-x86-64.so.2"])
            #expect(found.map(\.name) == ["liba.so", "libb.so", "libc.so"])
            #expect(found.map(\.path) == [dir + "/first/liba.so", dir + "/second/libb.so", dir + "/second/libc.so"])
        }
    }

    @Test("a missing library names itself, who needs it and where it was looked for")
    func missing() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            try SyntheticELF(needed: ["libgone.so"]).write(to: dir + "/liba.so")
            let root = try ELFFile(bytes: SyntheticELF(type: 2, needed: ["liba.so"]).build().bytes, name: "root")
            let error = try #require(throws: ArcaError.self) { try LibraryResolver(searchDirectories: [dir]).resolve(root) }
            #expect(error.code == .notFound)
            #expect(error.message.contains("libgone.so") && error.message.contains(dir + "/liba.so") && error.message.contains(dir))
        }
    }

    @Test("hostile names and library run paths are refused")
    func hostile() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            for name in ["../../etc/passwd", "/lib/libc.so.6", "..", ""] {
                let root = try ELFFile(bytes: SyntheticELF(type: 2, needed: [name]).build().bytes, name: "root")
                let error = try #require(throws: ArcaError.self) { try LibraryResolver(searchDirectories: [dir]).resolve(root) }
                #expect(error.code == .unsafePath, "\(name): \(error)")
            }
            try SyntheticELF(rpath: "/usr/lib/evil").write(to: dir + "/libr.so")
            let root = try ELFFile(bytes: SyntheticELF(type: 2, needed: ["libr.so"]).build().bytes, name: "root")
            let error = try #require(throws: ArcaError.self) { try LibraryResolver(searchDirectories: [dir]).resolve(root) }
            #expect(error.code == .unsupported && error.message.contains("/usr/lib/evil"))
        }
    }

    @Test("a closure larger than the limit is refused")
    func limit() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            for index in 0..<5 {
                try SyntheticELF(needed: index < 4 ? ["lib\(index + 1).so"] : []).write(to: dir + "/lib\(index).so")
            }
            let root = try ELFFile(bytes: SyntheticELF(type: 2, needed: ["lib0.so"]).build().bytes, name: "root")
            #expect(try LibraryResolver(searchDirectories: [dir]).resolve(root).count == 5)
            let error = try #require(throws: ArcaError.self) { try LibraryResolver(searchDirectories: [dir], libraryLimit: 3).resolve(root) }
            #expect(error.code == .limitExceeded)
        }
    }
}

@Suite("Locating arca-init")
struct LocateTests {
    @Test("ARCA_INIT wins; else arca-init beside the running executable")
    func locate() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let binary = try SyntheticELF().write(to: dir + "/arca-init")
            #expect(try RuntimeLayer.locateArcaInit(override: binary) == binary)
            #expect(try RuntimeLayer.locateArcaInit(override: nil, executable: dir + "/arca") == binary)
            let missing = try #require(throws: ArcaError.self) { try RuntimeLayer.locateArcaInit(override: dir + "/nope") }
            #expect(missing.code == .notFound && missing.message.contains("ARCA_INIT"))
            try FileSystem.makeDirectories(dir + "/other")
            let none = try #require(throws: ArcaError.self) { try RuntimeLayer.locateArcaInit(override: nil, executable: dir + "/other/arca") }
            #expect(none.message.contains(dir + "/other/arca-init"))
            guard chmod(binary, 0o644) == 0 else { throw ArcaError(.io, "chmod") }
            #expect(throws: ArcaError.self) { try RuntimeLayer.locateArcaInit(override: binary) }
        }
    }

    @Test("the test runner finds the arca-init built beside it")
    func besideTests() throws {
        let found = try RuntimeLayer.locateArcaInit(override: nil)
        #expect(found.hasSuffix("/arca-init"))
    }
}
