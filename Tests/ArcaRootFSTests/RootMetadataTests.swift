import ArcaArchive
import ArcaCore
import ArcaFUSE
import ArcaRootFS
import ArcaShield
import ArcaTestSupport
import Foundation
import Testing

/// Metadata comes from the index, never from the disk the host controls.
@Suite struct RootMetadataTests {
    static let odd = ["a b", "tab\there", "ünïcødé", "-dash", "new\nline"]

    static func members() -> [TarBuilder.Member] {
        let time = TarTime(seconds: 1_600_000_000, nanoseconds: 123_456_789)
        return [
            .raw(TarEntry(path: "etc", type: .directory, mode: 0o751, uid: 0, gid: 0, modificationTime: time), nil),
            .raw(TarEntry(path: "etc/owned.conf", type: .regular, mode: 0o640, uid: 1234, gid: 2345, modificationTime: time,
                          size: 5, xattrs: ["user.arca.note": Array("kept".utf8), "user.second": [1, 2, 3]]), Array("hello".utf8)),
            .symlink("etc/link", target: "owned.conf"),
            .hardlink("etc/hard", target: "etc/owned.conf"),
            .directory("etc/sub"),
            .directory("app"),
            .raw(TarEntry(path: "app/secret.conf", type: .regular, mode: 0o600, uid: 1000, gid: 1000, modificationTime: time,
                          size: 6, xattrs: ["user.enc": [9, 9]]), Array("secret".utf8)),
            .symlink("app/up", target: "../etc/owned.conf"),
        ] + odd.map { .file("etc/sub/\($0)", Array($0.utf8)) }
    }

    @Test func statReaddirReadlinkXattrAndStatfsComeFromTheIndex() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let tree = try RootFixture.seal(Self.members(), encrypt: ["/app"], in: dir)
            // The host changes everything it can in the lower tree.
            #expect(chmod(tree.lower + "/etc/owned.conf", 0o777) == 0)
            #expect(chown(tree.lower + "/etc/owned.conf", 0, 0) == 0)
            var times = [timespec(tv_sec: 42, tv_nsec: 0), timespec(tv_sec: 42, tv_nsec: 0)]
            #expect(utimensat(AT_FDCWD, tree.lower + "/etc/owned.conf", &times, 0) == 0)
            try FileSystem.writeAtomically(Array("planted".utf8), to: tree.lower + "/etc/planted")
            try? Xattr.remove(tree.lower + "/etc/owned.conf", "user.arca.note")

            try RootFixture.withMount(tree) { mnt, root throws in
                let file = try Posix.lstat(mnt + "/etc/owned.conf")
                #expect(file.st_mode == S_IFREG | 0o640)
                #expect(file.st_uid == 1234 && file.st_gid == 2345)
                #expect(file.st_mtim.tv_sec == 1_600_000_000 && file.st_mtim.tv_nsec == 123_456_789)
                #expect(file.st_size == 5)
                // The sealer's rootfs model resolves tar hardlinks into regular entries.
                #expect(try Posix.readAll(mnt + "/etc/hard").get() == Array("hello".utf8))

                let etc = try Posix.lstat(mnt + "/etc")
                #expect(etc.st_mode == S_IFDIR | 0o751)
                #expect(etc.st_nlink == 3)  // ".", its entry in "/", and "sub/.."
                #expect(try FileSystem.listDirectory(mnt + "/etc") == ["hard", "link", "owned.conf", "sub"])
                #expect(try FileSystem.listDirectory(mnt + "/etc/sub") == Self.odd.sorted())
                for name in Self.odd {
                    #expect(try Posix.readAll(mnt + "/etc/sub/" + name).get() == Array(name.utf8), "odd name \(name)")
                }
                #expect(throws: PosixFailure.self) { try Posix.lstat(mnt + "/etc/planted") }
                #expect(try Posix.lstat(mnt + "/etc/sub/..").st_ino == etc.st_ino)

                let link = try Posix.lstat(mnt + "/etc/link")
                #expect(link.st_mode & S_IFMT == S_IFLNK)
                #expect(link.st_size == Int("owned.conf".utf8.count))
                #expect(try FileManager.default.destinationOfSymbolicLink(atPath: mnt + "/etc/link") == "owned.conf")
                #expect(try FileManager.default.destinationOfSymbolicLink(atPath: mnt + "/app/up") == "../etc/owned.conf")
                #expect(try Posix.readAll(mnt + "/app/up").get() == Array("hello".utf8))

                let owned = try Xattr.read(mnt + "/etc/owned.conf", names: ["user.arca.note", "user.absent", "user.second"])
                #expect(owned.names == ["user.arca.note", "user.second"])
                #expect(owned.values["user.arca.note"] == Array("kept".utf8))
                #expect(owned.values["user.second"] == [1, 2, 3])
                #expect(owned.errors["user.absent"] == ENODATA)
                let secretXattrs = try Xattr.read(mnt + "/app/secret.conf", names: ["user.enc"])
                #expect(secretXattrs.names == ["user.enc"] && secretXattrs.values["user.enc"] == [9, 9])
                #expect(try Xattr.read(mnt + "/etc/sub", names: []).names.isEmpty)

                let secret = try Posix.lstat(mnt + "/app/secret.conf")
                #expect(secret.st_mode == S_IFREG | 0o600 && secret.st_uid == 1000 && secret.st_size == 6)
                #expect(try Posix.readAll(mnt + "/app/secret.conf").get() == Array("secret".utf8))

                var fs = statvfs()
                #expect(statvfs(mnt, &fs) == 0)
                #expect(fs.f_bsize == 4096)
                #expect(fs.f_files == UInt(root.inodeCount))
                #expect(fs.f_bfree == 0)
                #expect(fs.f_namemax == 255)
                #expect(fs.f_flag & UInt(ST_RDONLY) != 0)

                #expect(open(mnt + "/etc/owned.conf", O_WRONLY) == -1 && errno == EROFS)
                #expect(mkdir(mnt + "/new", 0o755) == -1 && errno == EROFS)
            }
        }
    }

    /// An index written directly (the sealer never emits hardlink entries or leaves parents out):
    /// hardlinks share their target's inode, missing parents are synthesized.
    @Test func hardlinksShareAnInodeAndImpliedDirectoriesExist() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let hello = Array("hello".utf8)
            let inputs = [
                ShieldInput(entry: IndexEntry(path: "/deep/down/a", type: .regular, mode: 0o600, uid: 7, size: 5), content: MemoryBytes(hello)),
                ShieldInput(entry: IndexEntry(path: "/deep/down/b", type: .hardlink, linkTarget: "/deep/down/a")),
                ShieldInput(entry: IndexEntry(path: "/z", type: .hardlink, linkTarget: "/deep/down/a")),
            ]
            let written = try ShieldWriter.write(inputs, masterKey: RootFixture.masterKey, blob: MemorySink())
            let index = try ShieldIndex.parse(written.index.bytes, expectedRoot: written.index.root, masterKey: RootFixture.masterKey)
            try FileSystem.makeDirectories(dir + "/lower/deep/down")
            try FileSystem.writeAtomically(hello, to: dir + "/lower/deep/down/a")
            let tree = SealedTree(directory: dir, lower: dir + "/lower", blobPath: dir + "/no-blob", indexBytes: written.index.bytes, index: index)
            try RootFixture.withMount(tree) { mnt, root throws in
                let a = try Posix.lstat(mnt + "/deep/down/a")
                #expect(a.st_nlink == 3 && a.st_mode == S_IFREG | 0o600 && a.st_uid == 7)
                #expect(try Posix.lstat(mnt + "/deep/down/b").st_ino == a.st_ino)
                #expect(try Posix.lstat(mnt + "/z").st_ino == a.st_ino)
                #expect(try Posix.readAll(mnt + "/z").get() == hello)
                let deep = try Posix.lstat(mnt + "/deep")
                #expect(deep.st_mode == S_IFDIR | 0o755 && deep.st_uid == 0 && deep.st_nlink == 3)
                #expect(try FileSystem.listDirectory(mnt) == ["deep", "z"])
                #expect(try FileSystem.listDirectory(mnt + "/deep/down") == ["a", "b"])
                #expect(root.inodeCount == 4)  // "/", "/deep", "/deep/down", "/deep/down/a"
            }
        }
    }
}
