import ArcaArchive
import ArcaCore
import ArcaRuntimeLayer
import ArcaTestSupport

/// Shared helpers of the runtime-layer tests.
enum RuntimeFixtures {
    /// The arca-init built with these tests (beside the test bundle, or `$ARCA_INIT`).
    static func arcaInit() throws -> String {
        try RuntimeLayer.locateArcaInit()
    }

    /// Builds the layer for `binary` into memory.
    static func layer(_ binary: String, time: Int64 = 0) throws -> (bytes: [UInt8], summary: RuntimeLayer.Summary) {
        let sink = MemorySink()
        let summary = try RuntimeLayer.write(arcaInit: binary, options: .init(modificationTime: time), to: sink)
        return (sink.bytes, summary)
    }

    /// Reads every entry of a tar stream.
    static func entries(_ tar: [UInt8]) throws -> [TarEntry] {
        let reader = TarReader(MemorySource(tar))
        var out: [TarEntry] = []
        while let entry = try reader.next() { out.append(entry) }
        return out
    }

    /// A root file system with only a static busybox (no libc, no loader): /bin/busybox and
    /// /bin/sh linked to it.
    static func busyboxRootfs(at root: String) throws {
        try FileSystem.makeDirectories(root + "/bin")
        try Tool.check("cp", ["/bin/busybox", root + "/bin/busybox"])
        try Tool.check("ln", ["-s", "busybox", root + "/bin/sh"])
    }

    /// Unpacks a tar stream into `root` with the system tar, as a container runtime would.
    static func extract(_ tar: [UInt8], into root: String) throws {
        let file = root + ".layer.tar"
        try FileSystem.writeAtomically(tar, to: file)
        defer { try? FileSystem.removeTree(file) }
        try Tool.check("tar", ["-x", "-p", "--numeric-owner", "-f", file, "-C", root])
    }
}
