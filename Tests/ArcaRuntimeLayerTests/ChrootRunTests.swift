import ArcaArchive
import ArcaCore
import ArcaInit
import ArcaTestSupport
import Glibc
import Testing
@testable import ArcaRuntimeLayer

/// Runs the shipped arca-init inside root file systems that cannot help it: chroot needs root,
/// which the tests and CI have.
@Suite("Runtime layer runs anywhere", .enabled(if: getuid() == 0, "chroot needs root"))
struct ChrootRunTests {
    @Test("/.arca/bin/arca-init --version runs in a busybox-static rootfs with no libc")
    func busybox() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let root = dir + "/rootfs"
            try RuntimeFixtures.busyboxRootfs(at: root)
            // Before: nothing dynamic can run there.
            #expect(!FileSystem.exists(root + "/lib") && !FileSystem.exists(root + "/lib64"))
            let host = try Tool.run("chroot", [root, "/bin/busybox", "true"])
            #expect(host.status == 0, "busybox itself runs: \(host.stderr)")

            let (tar, _) = try RuntimeFixtures.layer(try RuntimeFixtures.arcaInit())
            try RuntimeFixtures.extract(tar, into: root)
            let result = try Tool.run("chroot", [root, RuntimeLayer.binaryPath, "--version"])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(result.stdout == InitVersion.line + "\n")

            let help = try Tool.run("chroot", [root, RuntimeLayer.binaryPath, "--help"])
            #expect(help.status == 0 && help.stdout.contains("entrypoint"))
            let bad = try Tool.run("chroot", [root, RuntimeLayer.binaryPath, "--frobnicate"])
            #expect(bad.status == InitMain.usageStatus && bad.stderr.contains("--frobnicate"))

            // The field-notes way (explicit loader) works as well.
            let explicit = try Tool.run("chroot", [root, "/.arca/lib/ld.so", "--library-path", "/.arca/lib", RuntimeLayer.binaryPath, "--version"])
            #expect(explicit.status == 0 && explicit.stdout == InitVersion.line + "\n", "\(explicit.stderr)")
        }
    }

    @Test("runc runs /.arca/bin/arca-init --version as the container process on the busybox rootfs")
    func runc() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let root = dir + "/rootfs"
            try RuntimeFixtures.busyboxRootfs(at: root)
            let (tar, _) = try RuntimeFixtures.layer(try RuntimeFixtures.arcaInit())
            try RuntimeFixtures.extract(tar, into: root)
            // runc's default spec (namespaces, /proc, /dev), made non-interactive and read-only.
            try Tool.check("runc", ["spec", "--bundle", dir])
            let edited = try Tool.check("jq", [
                ".process.terminal = false | .process.args = [\"\(RuntimeLayer.binaryPath)\", \"--version\"] | .root.path = \"rootfs\" | .root.readonly = true",
                dir + "/config.json"]).stdout
            try FileSystem.writeAtomically(Array(edited.utf8), to: dir + "/config.json")
            let id = "arca-runtime-test-\(getpid())-\(UInt32.random(in: 0 ... .max))"
            defer { _ = try? Tool.run("runc", ["delete", "--force", id]) }
            let result = try Tool.run("timeout", ["120", "runc", "run", "--bundle", dir, id])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(result.stdout == InitVersion.line + "\n")
        }
    }

    @Test("with the image's own (broken) libc in every standard place, arca-init still uses its own")
    func foreignLibc() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let root = dir + "/rootfs"
            try RuntimeFixtures.busyboxRootfs(at: root)
            // The image's "libc": files of the right names in every directory the loader
            // searches by default, plus a loader and a cache. They are ELF files of the wrong
            // content (a tiny shared object that exports nothing), so a single use of any of
            // them fails to load or to resolve symbols.
            let decoy = SyntheticELF(interpreter: nil, soname: "decoy").build().bytes
            let binary = try RuntimeFixtures.arcaInit()
            let (elf, _) = try ELFFile.load(path: binary, limit: 1 << 30)
            let names = Set(elf.needed + ["libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1"])
            for directory in ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"] {
                try FileSystem.makeDirectories(root + directory)
                for name in names { try FileSystem.writeAtomically(decoy, to: root + directory + "/" + name) }
            }
            try FileSystem.makeDirectories(root + "/etc")
            try FileSystem.writeAtomically(Array("garbage cache".utf8), to: root + "/etc/ld.so.cache")
            // Sanity: the decoys really are poison for a normal dynamic program.
            try Tool.check("cp", ["/bin/true", root + "/bin/true"])
            let poisoned = try Tool.run("chroot", [root, "/bin/true"])
            #expect(poisoned.status != 0, "the decoy libc must break an ordinary program")

            let (tar, _) = try RuntimeFixtures.layer(binary)
            try RuntimeFixtures.extract(tar, into: root)
            // And the decoy libc breaks a program started by the good loader without our run path.
            let searched = try Tool.run("chroot", [root, "/.arca/lib/ld.so", "/bin/true"])
            #expect(searched.status != 0, "the decoy libc must break a program that searches the image's /lib")
            // Also point LD_LIBRARY_PATH at the decoys: DT_RPATH is searched before it.
            let result = try Tool.run("chroot", [root, RuntimeLayer.binaryPath, "--version"],
                                      environment: ["LD_LIBRARY_PATH": "/lib/x86_64-linux-gnu:/usr/lib"])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(result.stdout == InitVersion.line + "\n")
        }
    }
}
