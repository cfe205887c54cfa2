import ArcaCore
import ArcaTestSupport
import Foundation
import Testing

/// `arca run --prepare-only`: the runc bundle gives arca-init FUSE and CAP_SYS_ADMIN, a read-only
/// root and the sim platform key (created 0600 on first use), and nothing else of the host.
@Suite struct RunBundleTests {
    @Test func bundleHasWhatArcaInitNeeds() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try SampleImages.umociImage(in: dir)
            try Tool.check(Tool.arca, ["seal", "--from", "oci:\(layout):sample", "--to", "oci:\(dir)/sealed:1",
                                       "--encrypt", "/opt/app", "--keys", dir + "/k", "--quiet"])
            let result = try Tool.arca("run", "--prepare-only", "--bundle", dir + "/run-bundle", "--platform-key", dir + "/home/platform.key",
                                       "oci:\(dir)/sealed:1", "--keeper", "https://127.0.0.1:9")
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.contains("arca keeper platform add"))
            var info = stat()
            #expect(stat(dir + "/home/platform.key", &info) == 0 && info.st_mode & 0o777 == 0o600)
            #expect(FileSystem.exists(dir + "/home/platform.pub.pem"))
            #expect(stat(dir + "/run-bundle", &info) == 0 && info.st_mode & 0o777 == 0o700)  // the unpacked image is root's alone

            let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/run-bundle/config.json"))) as? [String: Any])
            let process = try #require(config["process"] as? [String: Any])
            #expect((process["args"] as? [String])?.first == "/.arca/bin/arca-init")
            let env = process["env"] as? [String] ?? []
            #expect(env.contains("ARCA_KEEPER=https://127.0.0.1:9"))
            #expect(env.contains("ARCA_PLATFORM_KEY=/.arca/platform.key"))
            let caps = (process["capabilities"] as? [String: [String]])?["effective"] ?? []
            #expect(caps.contains("CAP_SYS_ADMIN"))
            #expect((config["root"] as? [String: Any])?["readonly"] as? Bool == true)
            let linux = try #require(config["linux"] as? [String: Any])
            let devices = linux["devices"] as? [[String: Any]] ?? []
            #expect(devices.contains { $0["path"] as? String == "/dev/fuse" && $0["major"] as? Int == 10 && $0["minor"] as? Int == 229 })
            let namespaces = (linux["namespaces"] as? [[String: String]] ?? []).compactMap { $0["type"] }
            #expect(!namespaces.contains("network"))  // host network by default
            #expect(FileSystem.exists(dir + "/run-bundle/rootfs/.arca/bin/arca-init"))
            #expect(!FileSystem.exists(dir + "/run-bundle/rootfs/opt/app/new.txt"))
        }
    }

    @Test func networkNoneIsolates() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try SampleImages.umociImage(in: dir)
            try Tool.check(Tool.arca, ["seal", "--from", "oci:\(layout):sample", "--to", "oci:\(dir)/sealed:1", "--quiet"])
            try Tool.check(Tool.arca, ["run", "--prepare-only", "--bundle", dir + "/run-bundle", "--network", "none",
                                       "--platform-key", dir + "/platform.key", "oci:\(dir)/sealed:1"])
            let text = try String(contentsOfFile: dir + "/run-bundle/config.json", encoding: .utf8)
            #expect(text.contains("\"network\""))
            let bad = try Tool.arca("run", "--network", "bridge", "oci:\(dir)/sealed:1")
            #expect(bad.status != 0 && bad.stderr.contains("host or none"))
        }
    }
}
