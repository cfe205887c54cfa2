import ArcaCore
import ArcaCrypto
import ArcaTestSupport
import Foundation
import Testing
@testable import ArcaVolume

/// The volume mounted through FUSE by a child server process (root and /dev/fuse needed: the
/// test machines and CI run as root with /dev/fuse).
@Suite(.serialized) struct VolumeMountTests {
    @Test func posixOperationsFromSeveralProcessesPersistAcrossRestarts() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            var server = try VolumeServer(directory: dir)
            defer { server.stop() }
            let mnt = server.mountpoint
            // Four shell processes at once, each in its own directory and one shared one.
            try Posix.check(mkdir(mnt + "/shared", 0o755))
            let script = """
                set -e
                d="$1/p$2"; mkdir "$d"; mkdir "$d/sub"
                for i in 1 2 3 4 5 6 7 8 9 10; do
                  head -c $((i * 3000)) /dev/zero | tr '\\0' "$2" > "$d/f$i"
                  mv "$d/f$i" "$d/sub/g$i"
                  echo "$2-$i" >> "$1/shared/log-$2"
                done
                rm "$d/sub/g1"; rmdir "$d/sub" 2>/dev/null && exit 9
                ln -s "sub/g2" "$d/link"; chmod 600 "$d/sub/g3"; touch -d @1000000000 "$d/sub/g4"
                truncate -s 10 "$d/sub/g5"; truncate -s 100000 "$d/sub/g6"
                mv "$d/sub/g7" "$1/shared/moved-$2"
                dd if=/dev/zero of="$d/synced" bs=4096 count=3 conv=fsync status=none
                head -c 70000 /dev/urandom > "$d/trunc"; echo hi > "$d/trunc"
                """
            let processes = try (1...4).map { index in
                try ChildProcess(["/bin/sh", "-c", script, "sh", mnt, "\(index)"], stderr: dir + "/sh.err")
            }
            let statuses = processes.map { $0.wait() }
            #expect(statuses == [0, 0, 0, 0], "\((try? FileSystem.readFile(dir + "/sh.err", limit: 1 << 20)).map { String(decoding: $0, as: UTF8.self) } ?? ""); \(server.errors)")

            // Hard links are refused with EPERM; statfs answers.
            #expect(link(mnt + "/p1/sub/g2", mnt + "/hard") == -1 && errno == EPERM)
            // No extended attributes: every call says so (the kernel then stops asking on writes).
            let xattrs = """
                import errno, os, sys
                for call in (lambda p: os.getxattr(p, "user.note"), os.listxattr, lambda p: os.setxattr(p, "user.note", b"x")):
                    try:
                        call(sys.argv[1]); print("allowed")
                    except OSError as e:
                        print("unsupported" if e.errno == errno.EOPNOTSUPP else errno.errorcode[e.errno])
                """
            let answers = try ChildProcess.check(["python3", "-c", xattrs, mnt + "/p1/sub/g2"], scratch: dir)
            #expect(answers == "unsupported\nunsupported\nunsupported\n")
            var stats = statvfs()
            #expect(statvfs(mnt, &stats) == 0 && stats.f_blocks > 0)
            #expect(rmdir(mnt + "/p1") == -1 && errno == ENOTEMPTY)

            func check() throws {
                for index in 1...4 {
                    let d = mnt + "/p\(index)"
                    #expect(try Posix.readFile(d + "/sub/g2") == [UInt8](repeating: UInt8(ascii: "0") + UInt8(index), count: 6000))
                    #expect(try Posix.readFile(d + "/sub/g5") == [UInt8](repeating: UInt8(ascii: "0") + UInt8(index), count: 10))
                    let g6 = try Posix.readFile(d + "/sub/g6")
                    #expect(g6.count == 100_000 && g6[18_000...].allSatisfy { $0 == 0 })
                    #expect(try Posix.readFile(d + "/link") == (try Posix.readFile(d + "/sub/g2")))
                    #expect(access(d + "/sub/g1", F_OK) != 0)
                    var info = stat()
                    #expect(stat(d + "/sub/g3", &info) == 0 && info.st_mode & 0o777 == 0o600)
                    #expect(stat(d + "/sub/g4", &info) == 0 && info.st_mtim.tv_sec == 1_000_000_000)
                    let log = String(decoding: try Posix.readFile(mnt + "/shared/log-\(index)"), as: UTF8.self)
                    #expect(log == (1...10).map { "\(index)-\($0)\n" }.joined())
                    #expect(try Posix.readFile(mnt + "/shared/moved-\(index)").count == 21_000)
                    #expect(try Posix.readFile(d + "/trunc") == Array("hi\n".utf8), "open with O_TRUNC truncates")
                }
            }
            try check()
            server.stop()  // a clean stop commits
            server = try VolumeServer(directory: dir)
            try check()
        }
    }

    @Test func sqliteDatabaseSurvivesConcurrentWritersAndAKill() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            var server = try VolumeServer(directory: dir)
            defer { server.stop() }
            let database = server.mountpoint + "/app.db"
            let setup = "import sqlite3; c = sqlite3.connect('\(database)'); c.execute('create table t(w, i, payload)'); c.commit()"
            _ = try ChildProcess.check(["python3", "-c", setup], scratch: dir)
            // Two writers; each transaction commits and checks the integrity. synchronous=EXTRA makes
            // SQLite fsync the directory after deleting its journal, which is what makes a
            // transaction durable on any POSIX file system (under FULL the last one may roll back).
            let writer = """
                import sqlite3, sys
                c = sqlite3.connect(sys.argv[1], timeout=60)
                c.execute('pragma synchronous=extra')
                for i in range(60):
                    c.execute('insert into t values (?, ?, ?)', (sys.argv[2], i, 'x' * (i * 97 % 5000)))
                    if i % 7 == 0: c.execute('delete from t where w = ? and i = ?', (sys.argv[2], i - 1))
                    c.commit()
                    if i % 10 == 0:
                        assert c.execute('pragma integrity_check').fetchone()[0] == 'ok'
                """
            let writers = try ["a", "b"].map { name in
                try ChildProcess(["python3", "-c", writer, database, name], stderr: dir + "/python.err")
            }
            let statuses = writers.map { $0.wait() }
            #expect(statuses == [0, 0], "\((try? FileSystem.readFile(dir + "/python.err", limit: 1 << 20)).map { String(decoding: $0, as: UTF8.self) } ?? ""); \(server.errors)")

            server.kill()  // every committed transaction was fsynced, so all must be there
            server = try VolumeServer(directory: dir)
            let query = "import sqlite3; c = sqlite3.connect('\(database)'); print(c.execute('pragma integrity_check').fetchone()[0], c.execute('select count(*) from t').fetchone()[0])"
            let output = try ChildProcess.check(["python3", "-c", query], scratch: dir)
            // 60 inserts each, minus the deleted rows (i = 0, 7, …, 56 delete i - 1 = -1 (none), 6, …, 55).
            #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == "ok \(2 * (60 - 8))")
        }
    }

    @Test func tamperedChunksReadAsEIOAndASecondServerIsRefused() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            var server = try VolumeServer(directory: dir)
            defer { server.stop() }
            try Posix.writeFile(server.mountpoint + "/victim", [UInt8](repeating: 1, count: 100_000))
            try Posix.writeFile(server.mountpoint + "/bystander", [UInt8](repeating: 2, count: 5000), sync: true)

            // The lease: a second server on the same host directory is refused while the first runs.
            try FileSystem.makeDirectories(dir + "/mnt2")
            let second = try ChildProcess([VolumeServer.executable, dir + "/host", dir + "/mnt2", dir + "/key", dir + "/anchor"],
                                          stderr: dir + "/second.err")
            #expect(second.wait(timeout: 30) == 1)
            #expect(String(decoding: try FileSystem.readFile(dir + "/second.err", limit: 1 << 20), as: UTF8.self).contains("in use"))
            server.stop()

            // Flip one byte in every chunk of the victim (found by opening the volume here); the
            // bystander's chunk, maybe in the same segment, is left alone.
            let volume = try Volume.open(at: dir + "/host", key: try KeyFile.read(path: dir + "/key"),
                                         anchor: FileVolumeAnchor(path: dir + "/anchor"))
            let node = volume.tree.nodes[try volume.lookup(parent: Volume.rootInode, name: Array("victim".utf8)).inode]!
            volume.abandon()
            #expect(node.chunks.count > 1)
            for chunk in node.chunks.values {
                let path = dir + "/host/segments/" + ChunkReference.segmentName(chunk.segment)
                var bytes = try FileSystem.readFile(path, limit: 1 << 24)
                bytes[Int(chunk.offset) + chunk.sealedSize / 2] ^= 0x40
                try FileSystem.writeAtomically(bytes, to: path)
            }
            server = try VolumeServer(directory: dir)
            #expect(throws: Errno(code: EIO)) { _ = try Posix.readFile(server.mountpoint + "/victim") }
            #expect(try Posix.readFile(server.mountpoint + "/bystander") == [UInt8](repeating: 2, count: 5000))
            #expect(server.errors.contains("fails authentication"), "the server logs the integrity failure")
        }
    }
}
