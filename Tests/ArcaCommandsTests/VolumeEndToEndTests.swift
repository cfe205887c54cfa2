import ArcaCore
import ArcaCrypto
import ArcaTestSupport
import ArcaVolume
import Foundation
import Testing

/// Encrypted volumes under runc, as root: a sealed image whose service writes to its volume `/data`
/// (each write fsync'ed) — a python3 program in the Debian python image, or a shell script in a
/// busybox-static image where the service does not matter — a real keeper holding the volume's
/// key and rollback anchor, `arca run --volume data:HOSTDIR`, and `runc run`. The host directory
/// only ever holds ciphertext; restarts keep the data; an older copy is refused; a full host disk
/// is the service's ENOSPC and leaves the volume usable.
@Suite(.serialized) struct VolumeEndToEndTests {
    static let script = """
        #!/bin/sh
        # write TEXT FILE | read FILE | fill
        case "$1" in
        write) printf '%s\\n' "$2" | dd of=/data/$3 conv=fsync 2>/dev/null && echo "WROTE $3" ;;
        read) echo "READ $2: $(cat /data/$2)" ;;
        fill)
            printf 'kept\\n' | dd of=/data/kept conv=fsync 2>/dev/null && echo "KEPT-OK"
            dd if=/dev/zero of=/data/big bs=65536 count=256 conv=fsync
            echo "FILL-STATUS $?"
            rm -f /data/big
            printf 'after\\n' | dd of=/data/after conv=fsync 2>/dev/null && echo "AFTER-OK"
            ;;
        esac
        """

    /// The same commands in python (`/app/svc.py`).
    static let pythonScript = """
        import errno, os, sys

        def write(name, data):
            fd = os.open("/data/" + name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)

        command = sys.argv[1]
        if command == "readahead":
            # The kernel's readahead window of the /data mount, from inside the container.
            for line in open("/proc/self/mountinfo"):
                fields = line.split()
                if fields[4] == "/data":
                    device = fields[2]
            path = "/sys/class/bdi/%s/read_ahead_kb" % device
            print("READAHEAD-KB %s" % open(path).read().strip(), flush=True)
            try:
                open(path, "w").close()
                print("SYSFS-WRITABLE", flush=True)
            except OSError as error:
                print("SYSFS-%s" % errno.errorcode.get(error.errno, error.errno), flush=True)
        elif command == "write":
            write(sys.argv[3], (sys.argv[2] + "\\n").encode())
            print("WROTE " + sys.argv[3], flush=True)
        elif command == "read":
            with open("/data/" + sys.argv[2]) as f:
                print("READ %s: %s" % (sys.argv[2], f.read().strip()), flush=True)
        elif command == "fill":
            write("kept", b"kept\\n")
            print("KEPT-OK", flush=True)
            try:
                fd = os.open("/data/big", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    for _ in range(256):
                        os.write(fd, bytes(65536))
                    os.fsync(fd)
                finally:
                    os.close(fd)
                print("FILL-STATUS 0", flush=True)
            except OSError as error:
                print("FILL-ERROR %s %s" % (errno.errorcode.get(error.errno, error.errno), error.strerror), flush=True)
            os.remove("/data/big")
            write("after", b"after\\n")
            print("AFTER-OK", flush=True)
        """

    final class Setup {
        let dir: String
        let python: Bool
        let keeperPort = Int.random(in: 20000...29999)
        var keeper: Process?
        var pin = ""
        var containers: [String] = []
        var runs = 0

        init(dir: String, python: Bool) throws {
            self.dir = dir
            self.python = python
            try startKeeper()
            try buildAndSeal()
        }

        func startKeeper() throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Tool.arca)
            process.arguments = ["keeper", "serve", "--listen", "127.0.0.1:\(keeperPort)", "--data", dir + "/keeper"]
            _ = FileManager.default.createFile(atPath: dir + "/keeper.log", contents: nil)
            let log = FileHandle(forWritingAtPath: dir + "/keeper.log")!
            process.standardOutput = log
            process.standardError = log
            try process.run()
            keeper = process
            for _ in 0..<150 {
                let text = (try? String(contentsOfFile: dir + "/keeper.log", encoding: .utf8)) ?? ""
                if let line = text.split(separator: "\n").first(where: { $0.contains("keeper pin") }) {
                    pin = String(line.split(separator: " ").last!)
                    return
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
            throw ArcaError(.io, "the keeper did not start: \((try? String(contentsOfFile: dir + "/keeper.log", encoding: .utf8)) ?? "")")
        }

        var keeperURL: String { "https://127.0.0.1:\(keeperPort)" }

        /// The service's program and its first argument, as the image's entrypoint.
        var entrypoint: [String] { python ? ["/usr/bin/python3", "/app/svc.py"] : ["/bin/sh", "/app/svc.sh"] }

        func buildAndSeal() throws {
            let native = python
                ? try PythonImageTests.pythonImage(at: dir + "/img", app: [("svc.py", VolumeEndToEndTests.pythonScript)], entrypoint: entrypoint)
                : try busyboxImage()
            try Tool.check(Tool.arca, ["seal", "--from", native, "--to", "oci:\(dir)/sealed:1", "--volume", "data:/data",
                                       "--ephemeral", "/tmp", "--session", "test/vol", "--allow-sim", "--keeper", keeperURL,
                                       "--keeper-pin", pin, "--session-out", dir + "/session.yaml", "--quiet"])
            let session = try String(contentsOfFile: dir + "/session.yaml", encoding: .utf8)
                .replacingOccurrences(of: "allowHostArgs: false", with: "allowHostArgs: true")
            try FileSystem.writeAtomically(Array(session.utf8), to: dir + "/session.yaml", permissions: [.ownerReadWrite])
            try Tool.check(Tool.arca, ["session", "create", dir + "/session.yaml", "--keeper", keeperURL, "--keeper-pin", pin],
                           environment: ["ARCA_HOME": dir + "/home"])
        }

        func busyboxImage() throws -> String {
            let layout = dir + "/img"
            try Tool.check("umoci", ["init", "--layout", layout])
            try Tool.check("umoci", ["new", "--image", layout + ":1"])
            try Tool.check("umoci", ["unpack", "--image", layout + ":1", dir + "/b"])
            let root = dir + "/b/rootfs"
            for directory in ["/bin", "/app", "/data"] { try FileSystem.makeDirectories(root + directory) }
            try Tool.check("cp", ["/bin/busybox", root + "/bin/busybox"])
            for applet in ["sh", "dd", "cat", "rm", "printf", "echo", "ls"] { try Tool.check("ln", ["-s", "busybox", root + "/bin/\(applet)"]) }
            try SampleImages.write(VolumeEndToEndTests.script, to: root + "/app/svc.sh")
            try Tool.check("umoci", ["repack", "--image", layout + ":1", dir + "/b"])
            try Tool.check("umoci", ["config", "--image", layout + ":1", "--config.entrypoint", entrypoint[0], "--config.entrypoint", entrypoint[1]])
            return "oci:\(layout):1"
        }

        /// Runs the sealed service once with `arguments` and the volume at `hostDirectory` (host
        /// arguments replace all but the program of the session's command); returns
        /// its exit status and the container's log.
        func run(_ arguments: [String], hostDirectory: String) throws -> (status: Int32, log: String) {
            runs += 1
            let bundle = dir + "/bundle\(runs)"
            try Tool.check(Tool.arca, ["run", "--prepare-only", "--bundle", bundle, "--volume", "data:\(hostDirectory)",
                                       "oci:\(dir)/sealed:1", "--", entrypoint[1]] + arguments,
                           environment: ["ARCA_HOME": dir + "/home"])
            if !FileSystem.exists(dir + "/home/registered") {
                try Tool.check(Tool.arca, ["keeper", "platform", "add", dir + "/home/platform.pub.pem", "--data", dir + "/keeper"])
                try FileSystem.writeAtomically([], to: dir + "/home/registered")
            }
            let name = "arca-vol-\(keeperPort)-\(runs)"
            let logPath = dir + "/\(name).log"
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let log = FileHandle(forWritingAtPath: logPath)!
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["runc", "run", "--bundle", bundle, name]
            process.standardOutput = log
            process.standardError = log
            process.standardInput = FileHandle.nullDevice
            try process.run()
            containers.append(name)
            let deadline = Date().addingTimeInterval(40)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { _ = try? Tool.run("runc", ["kill", name, "KILL"]); process.waitUntilExit() }
            _ = try? Tool.run("runc", ["delete", "--force", name])
            return (process.terminationStatus, (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")
        }

        func cleanUp() {
            for name in containers {
                _ = try? Tool.run("runc", ["kill", name, "KILL"])
                _ = try? Tool.run("runc", ["delete", "--force", name])
            }
            keeper?.terminate()
            keeper?.waitUntilExit()
        }
    }

    private func withSetup(python: Bool, _ body: (Setup) throws -> Void) async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let setup = try Setup(dir: dir, python: python)
            defer { setup.cleanUp() }
            try body(setup)
        }
    }

    /// All regular files below `path`, concatenated (to look for plaintext on the host).
    static func hostBytes(_ path: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let name = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &isDirectory), !isDirectory.boolValue {
                bytes += try FileSystem.readFile(path + "/" + name, limit: 1 << 26)
            }
        }
        return bytes
    }

    @Test func aPythonServiceKeepsItsDataAcrossARestartAndAnOlderCopyIsRefusedNamingBothVersions() async throws {
        try await withSetup(python: true) { setup in
            let host = setup.dir + "/volume-data"
            let secret = "volume-secret-\(UInt32.random(in: 0...UInt32.max))"
            let first = try setup.run(["write", secret + "-one", "note"], hostDirectory: host)
            #expect(first.status == 0, "\(first.log)")
            #expect(first.log.contains("WROTE note"), "\(first.log)")
            #expect(first.log.contains("volume data at /data"), "\(first.log)")
            // The host sees ciphertext only.
            #expect(!String(decoding: try Self.hostBytes(host), as: UTF8.self).contains(secret))

            try Tool.check("cp", ["-a", host, setup.dir + "/older-copy"])
            let second = try setup.run(["write", secret + "-two", "note"], hostDirectory: host)
            #expect(second.status == 0, "\(second.log)")
            let read = try setup.run(["read", "note"], hostDirectory: host)
            #expect(read.status == 0, "\(read.log)")
            #expect(read.log.contains("READ note: \(secret)-two"), "\(read.log)")
            // arca-init set the volume's 4 MiB readahead window although the container's /sys is
            // read-only, left it read-only for the service, and the host's writable (the service
            // shares the host's network namespace here, so its sysfs superblock is the host's).
            let readAhead = try setup.run(["readahead"], hostDirectory: host)
            #expect(readAhead.log.contains("READAHEAD-KB 4096"), "\(readAhead.log)")
            #expect(!readAhead.log.contains("readahead window left"), "\(readAhead.log)")
            #expect(readAhead.log.contains("SYSFS-EROFS"), "the service's /sys stays read-only: \(readAhead.log)")
            #expect(access("/sys/class/bdi", W_OK) == 0, "the host's /sys stays writable")

            // The host swaps in the older copy: refused, naming both versions; the service never runs.
            try FileSystem.removeTree(host)
            try Tool.check("cp", ["-a", setup.dir + "/older-copy", host])
            let refused = try setup.run(["read", "note"], hostDirectory: host)
            #expect(refused.status != 0)
            #expect(!refused.log.contains("READ note"), "\(refused.log)")
            let pattern = try Regex(#"holds version (\d+), but the anchor is at version (\d+)"#)
            let match = try #require(refused.log.firstMatch(of: pattern), "\(refused.log)")
            let found = try #require(UInt64(String(match.output[1].substring ?? "")))
            let anchored = try #require(UInt64(String(match.output[2].substring ?? "")))
            #expect(found < anchored)

            // An emptied directory is refused too (the anchor remembers the volume).
            try FileSystem.removeTree(host)
            try FileSystem.makeDirectories(host, permissions: 0o700)
            let emptied = try setup.run(["read", "note"], hostDirectory: host)
            #expect(emptied.status != 0)
            #expect(emptied.log.contains("holds no volume, but the anchor is at version \(anchored)"), "\(emptied.log)")
        }
    }

    @Test func aFullHostDiskIsThePythonServicesENOSPCAndTheVolumeStaysConsistent() async throws {
        try await withSetup(python: true) { setup in
            let host = setup.dir + "/small"
            try FileSystem.makeDirectories(host, permissions: 0o700)
            try Tool.check("mount", ["-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", host])
            defer { _ = try? Tool.run("umount", ["-l", host]) }
            let fill = try setup.run(["fill"], hostDirectory: host)
            #expect(fill.status == 0, "\(fill.log)")
            #expect(fill.log.contains("KEPT-OK"), "\(fill.log)")
            #expect(fill.log.contains("FILL-ERROR ENOSPC No space left on device"), "\(fill.log)")
            #expect(!fill.log.contains("FILL-STATUS 0"), "\(fill.log)")
            #expect(fill.log.contains("AFTER-OK"), "the volume must take writes again once space is free: \(fill.log)")
            #expect(!fill.log.contains("I/O error"), "\(fill.log)")

            for (file, text) in [("kept", "kept"), ("after", "after")] {
                let read = try setup.run(["read", file], hostDirectory: host)
                #expect(read.status == 0, "\(read.log)")
                #expect(read.log.contains("READ \(file): \(text)"), "\(read.log)")
            }
        }
    }

    @Test func theOwnerResetsTheAnchorToARestoredCopyAndRotatesTheKey() async throws {
        try await withSetup(python: false) { setup in
            let host = setup.dir + "/volume-data"
            #expect(try setup.run(["write", "first", "note"], hostDirectory: host).status == 0)
            try Tool.check("cp", ["-a", host, setup.dir + "/backup"])
            #expect(try setup.run(["write", "second", "note"], hostDirectory: host).status == 0)
            try FileSystem.removeTree(host)
            try Tool.check("cp", ["-a", setup.dir + "/backup", host])
            #expect(try setup.run(["read", "note"], hostDirectory: host).status != 0)

            let keeperFlags = ["--keeper", setup.keeperURL, "--keeper-pin", setup.pin]
            let reset = ["volume", "reset-anchor", "test/vol", "data", "--host-dir", host] + keeperFlags
            // Not the owner: refused (and audited).
            let stranger = try Tool.run(Tool.arca, reset, environment: ["ARCA_HOME": setup.dir + "/stranger"])
            #expect(stranger.status != 0)
            #expect(stranger.stderr.contains("not-owner"), "\(stranger.stderr)")
            // The owner restores deliberately: the backup starts and holds the first write.
            let owner = try Tool.run(Tool.arca, reset, environment: ["ARCA_HOME": setup.dir + "/home"])
            #expect(owner.status == 0, "\(owner.stderr)")
            #expect(owner.stdout.contains("anchored at version"), "\(owner.stdout)")
            let restored = try setup.run(["read", "note"], hostDirectory: host)
            #expect(restored.log.contains("READ note: first"), "\(restored.log)")
            let audit = try Tool.run("sqlite3", [setup.dir + "/keeper/keeper.sqlite",
                                                 "SELECT outcome, detail FROM audit WHERE action = 'anchor.reset' ORDER BY rowid"])
            let lines = audit.stdout.split(separator: "\n")
            #expect(lines.count == 2 && lines[0].hasPrefix("denied") && lines[1].hasPrefix("ok|volume=data from="), "\(audit.stdout)")

            // Rotation: the session gets a new key, the service still reads its data, the old key opens nothing.
            func volumeKey() throws -> String {
                let shown = try Tool.run(Tool.arca, ["session", "show", "test/vol", "--format", "json"] + keeperFlags,
                                         environment: ["ARCA_HOME": setup.dir + "/home"])
                let match = try #require(shown.stdout.firstMatch(of: try Regex(#""key"\s*:\s*"([0-9a-f]{64})"[^}]*"name"\s*:\s*"data""#))
                    ?? shown.stdout.firstMatch(of: try Regex(#""name"\s*:\s*"data"[^}]*"key"\s*:\s*"([0-9a-f]{64})""#)), "\(shown.stdout)")
                return String(match.output[1].substring ?? "")
            }
            let oldKey = try volumeKey()
            let rotate = try Tool.run(Tool.arca, ["volume", "rotate", "test/vol", "data", "--host-dir", host] + keeperFlags,
                                      environment: ["ARCA_HOME": setup.dir + "/home"])
            #expect(rotate.status == 0, "\(rotate.stderr)")
            let newKey = try volumeKey()
            #expect(newKey != oldKey)
            let afterRotation = try setup.run(["read", "note"], hostDirectory: host)
            #expect(afterRotation.status == 0, "\(afterRotation.log)")
            #expect(afterRotation.log.contains("READ note: first"), "\(afterRotation.log)")
            let old = try MasterKey(bytes: try #require(Hex.decode(oldKey)))
            do {
                _ = try Volume.open(at: host, key: old, anchor: MemoryVolumeAnchor())
                Issue.record("the old key opened the rotated volume")
            } catch let error as ArcaError {
                #expect(error.message.contains("key check"), "\(error)")
            }
            #expect(try FileSystem.listDirectory(setup.dir).allSatisfy { !$0.hasPrefix("volume-data.") }, "rotation leftovers")
        }
    }
}
