import ArcaCore
import ArcaTestSupport
import Foundation
import Testing

/// `arca seal`, `measure` and `verify` end to end with the real arca-init, and the sealed image
/// read by skopeo and umoci like any other image.
@Suite(.serialized) struct SealCommandTests {
    @Test func sealMeasureVerifyAndPeersReadTheResult() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try SampleImages.umociImage(in: dir)
            let seal = try Tool.arca("seal", "--from", "oci:\(layout):sample", "--to", "oci:\(dir)/sealed:1",
                                     "--encrypt", "/opt/app", "--ephemeral", "/tmp", "--session", "team/sample", "--allow-sim",
                                     "--session-out", dir + "/session.yaml", "--format", "json")
            #expect(seal.status == 0, "\(seal.stderr)")
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(seal.stdout.utf8)) as? [String: Any])
            let measurement = try #require(summary["measurement"] as? String)
            #expect(measurement.count == 64)
            #expect(summary["session"] as? String == "team/sample")

            // The session file: 0600, holds the key, which never reached stdout or stderr.
            var info = stat()
            #expect(stat(dir + "/session.yaml", &info) == 0 && info.st_mode & 0o777 == 0o600)
            let session = try String(contentsOfFile: dir + "/session.yaml", encoding: .utf8)
            let keyLine = try #require(session.split(separator: "\n").first { $0.contains("main:") && $0.count > 60 })
            let keyHex = String(keyLine.split(separator: ":").last!.trimmingCharacters(in: .whitespaces).filter(\.isHexDigit))
            #expect(keyHex.count == 64)
            #expect(!seal.stdout.contains(keyHex) && !seal.stderr.contains(keyHex))
            #expect(session.contains(measurement))

            #expect(try Tool.check(Tool.arca, ["measure", "oci:\(dir)/sealed:1"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == measurement)
            let verify = try Tool.arca("verify", "--session", dir + "/session.yaml", "oci:\(dir)/sealed:1")
            #expect(verify.status == 0, "\(verify.stderr)")
            #expect(verify.stdout.contains("encrypted chunks") && !verify.stdout.contains("not checked"))

            // Ordinary tools pull and unpack it; the encrypted directory is not in the layers.
            let inspect = try Tool.check("skopeo", ["inspect", "oci:\(dir)/sealed:1"])
            #expect(inspect.stdout.contains(measurement))
            try Tool.check("umoci", ["unpack", "--image", "\(dir)/sealed:1", dir + "/sealed-bundle"])
            #expect(FileSystem.exists(dir + "/sealed-bundle/rootfs/.arca/bin/arca-init"))
            #expect(FileSystem.exists(dir + "/sealed-bundle/rootfs/.arca/shield/index"))
            #expect(FileSystem.exists(dir + "/sealed-bundle/rootfs/etc/passwd"))
            #expect(!FileSystem.exists(dir + "/sealed-bundle/rootfs/opt/app/new.txt"))
            #expect(!FileSystem.exists(dir + "/sealed-bundle/rootfs/opt/app"))
        }
    }

    @Test func sameKeysAndEpochGiveTheSameImage() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try SampleImages.umociImage(in: dir)
            var digests: [String] = []
            var hits: [Int] = []
            // a fills the cache, b is served from it, c uses none: one image.
            for (name, cache) in [("a", ["--cache", dir + "/cache"]), ("b", ["--cache", dir + "/cache"]), ("c", ["--no-cache"])] {
                let result = try Tool.check(Tool.arca, ["seal", "--from", "oci:\(layout):sample", "--to", "oci:\(dir)/\(name):x",
                                                        "--encrypt", "/opt/app", "--keys", dir + "/image.key", "--format", "json"] + cache,
                                            environment: ["SOURCE_DATE_EPOCH": "1700000000"])
                let summary = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
                digests.append(summary?["image"] as? String ?? "")
                hits.append(summary?["cacheHits"] as? Int ?? -1)
            }
            #expect(digests[0] == digests[1] && digests[1] == digests[2])
            #expect(hits[0] == 0 && hits[1] > 0 && hits[2] == 0, "\(hits)")
            var cacheInfo = stat()
            #expect(stat(dir + "/cache", &cacheInfo) == 0 && cacheInfo.st_mode & 0o777 == 0o700)
            #expect(digests[0].hasPrefix("sha256:"))
            var info = stat()
            #expect(stat(dir + "/image.key", &info) == 0 && info.st_mode & 0o777 == 0o600)
        }
    }

    /// The runtime layer's fingerprint in the cache: reused while arca-init is unchanged, renewed
    /// when it changes, and a corrupted or lying fingerprint never changes the image.
    @Test func runtimeFingerprintFollowsArcaInit() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try SampleImages.umociImage(in: dir)
            let arcaInit = dir + "/arca-init"
            let built = (Tool.arca as NSString).deletingLastPathComponent + "/arca-init"
            try FileManager.default.copyItem(atPath: built, toPath: arcaInit)
            func seal(_ name: String, _ cache: [String]) throws -> String {
                let result = try Tool.check(Tool.arca, ["seal", "--from", "oci:\(layout):sample", "--to", "oci:\(dir)/\(name):x",
                                                        "--encrypt", "/opt/app", "--keys", dir + "/image.key", "--format", "json"] + cache,
                                            environment: ["SOURCE_DATE_EPOCH": "1700000000", "ARCA_INIT": arcaInit])
                let summary = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
                return try #require(summary?["image"] as? String)
            }
            let cache = ["--cache", dir + "/cache"]
            let first = try seal("a", cache)
            let fingerprints = try FileManager.default.contentsOfDirectory(atPath: dir + "/cache/runtime")
            #expect(fingerprints.count == 1 && fingerprints[0].hasSuffix(".json"), "\(fingerprints)")
            let fingerprint = dir + "/cache/runtime/" + fingerprints[0]
            var info = stat()
            #expect(stat(fingerprint, &info) == 0 && info.st_mode & 0o777 == 0o600)
            #expect(try seal("b", cache) == first)

            // A lying digest (stamps unchanged) and a corrupted file: the same image all the same.
            let saved = try String(contentsOfFile: fingerprint, encoding: .utf8)
            let digest = try #require(saved.firstRange(of: /"digest":"[0-9a-f]{64}"/))
            try saved.replacingCharacters(in: digest, with: "\"digest\":\"" + String(repeating: "ab", count: 32) + "\"")
                .write(toFile: fingerprint, atomically: true, encoding: .utf8)
            #expect(try seal("c", cache) == first)
            try "{not json".write(toFile: fingerprint, atomically: true, encoding: .utf8)
            #expect(try seal("d", cache) == first)

            // A changed arca-init (one byte more: an ELF runs the same) gives another runtime layer,
            // hence another image, equal to a seal without the cache.
            let handle = try #require(FileHandle(forWritingAtPath: arcaInit))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data([0]))
            try handle.close()
            let changed = try seal("e", cache)
            #expect(changed != first)
            #expect(try seal("f", ["--no-cache"]) == changed)
            #expect(try seal("g", cache) == changed)
        }
    }

    @Test(arguments: [
        (["--encrypt", "opt/app", "--keys", "K"], "relative"),
        (["--encrypt", "/nope", "--keys", "K"], "--encrypt /nope"),
        (["--encrypt", "/opt/app"], "--session-out"),
        (["--encrypt", "/opt", "--volume", "data:/opt/data", "--keys", "K"], "inside the encrypted path"),
        (["--keeper-pin", "abc"], "64 hex digits"),
    ])
    func badSealsExplainThemselves(_ flags: [String], _ message: String) async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try SampleImages.umociImage(in: dir)
            let arguments = ["seal", "--from", "oci:\(layout):sample", "--to", "oci:\(dir)/out:x"] + flags.map { $0 == "K" ? dir + "/k" : $0 }
            let result = try Tool.run(Tool.arca, arguments)
            #expect(result.status != 0)
            #expect(result.stderr.contains(message), "\(result.stderr)")
            #expect(!FileSystem.exists(dir + "/out/index.json"))
        }
    }
}
