import ArcaCore
import ArcaKeeperAPI
import ArcaTestSupport
import Foundation
import Testing
@testable import ArcaInit

/// The secret-file placement of arca-init, outside a container: path checks, the staging tmpfs,
/// binding below ephemeral (memory-backed) paths and refusing anything else that is missing. (Ownership and the
/// read-only remount happen after the pivot; RuntimeServiceTests checks them under runc.)
@Suite("Secret files", .enabled(if: getuid() == 0, "mounting needs root"))
struct SecretFilesTests {
    private func file(_ path: String, _ content: String = "s3cret") -> ReleasePayload.SecretFile {
        .init(path: path, content: Data(content.utf8).base64EncodedString())
    }

    @Test func pathsMustBeAbsoluteNormalizedAndDistinct() throws {
        #expect(try SecretFiles.paths([file("/run/secrets/a"), file("/etc/b")]) == ["/run/secrets/a", "/etc/b"])
        for bad in ["relative", "/", "/a/", "/a//b", "/a/./b", "/a/../b", "/..", ""] {
            #expect(throws: ArcaError.self, "\(bad)") { try SecretFiles.paths([file(bad)]) }
        }
        #expect(throws: ArcaError.self) { try SecretFiles.paths([file("/a"), file("/a")]) }
        let many = (0...SecretFiles.maximumCount).map { file("/s/\($0)") }
        #expect(throws: ArcaError.self) { try SecretFiles.paths(many) }
    }

    @Test func badContentIsRefusedBeforeAnythingIsMounted() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let staging = dir + "/staging"
            try FileSystem.makeDirectories(staging)
            let bad = ReleasePayload.SecretFile(path: "/a", content: "not base64!")
            #expect(throws: ArcaError.self) { try SecretFiles.stage([bad], at: staging) }
            let huge = file("/a", String(repeating: "x", count: SecretFiles.maximumBytes + 1))
            #expect(throws: ArcaError.self) { try SecretFiles.stage([huge], at: staging) }
            #expect(try SecretFiles.stage([], at: staging).staged.isEmpty)
            // Nothing was mounted: the staging directory is still the plain, writable directory.
            try FileSystem.writeAtomically([1], to: staging + "/probe")
            #expect(try FileSystem.listDirectory(staging) == ["probe"])
        }
    }

    @Test func stagedFilesAreBoundOntoAMemoryBackedTreeAndNeverOntoADisk() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let staging = dir + "/staging", memory = dir + "/memory", disk = dir + "/disk"
            for path in [staging, memory, disk + "/etc"] { try FileSystem.makeDirectories(path) }
            var mounted: [String] = []
            defer { for path in mounted.reversed() { umount2(path, Int32(MNT_DETACH)) } }
            let secrets = try SecretFiles.stage([file("/run/secrets/key", "key bytes"), file("/etc/token", "token bytes")], at: staging)
            mounted.append(staging)
            #expect(secrets.staged.map(\.path) == ["/run/secrets/key", "/etc/token"])
            var info = stat()
            #expect(stat(staging + "/0", &info) == 0 && info.st_mode & 0o777 == 0o400)

            // A tree without the files and no memory-backed path: refused, and nothing created.
            #expect(throws: ArcaError.self) { try secrets.bind(under: disk, memoryBacked: ["/tmp"]) }
            #expect(try FileSystem.listDirectory(disk + "/etc").isEmpty)
            #expect(!FileSystem.exists(disk + "/run"))

            // Ephemeral paths (a tmpfs): files and their directories are created and bound.
            try Tool.check("mount", ["-t", "tmpfs", "tmpfs", memory])
            mounted.append(memory)
            try secrets.bind(under: memory, memoryBacked: ["/run", "/etc"])
            mounted += [memory + "/run/secrets/key", memory + "/etc/token"]
            #expect(try FileSystem.readFile(memory + "/run/secrets/key", limit: 100) == Array("key bytes".utf8))
            #expect(try FileSystem.readFile(memory + "/etc/token", limit: 100) == Array("token bytes".utf8))
            #expect(stat(memory + "/etc/token", &info) == 0 && info.st_mode & 0o777 == 0o400)
            for file in secrets.staged { close(file.descriptor) }
        }
    }
}
