import ArcaCore
import ArcaOCI
import ArcaTestSupport
import Foundation
import Testing

/// `arca seal --from docker://… --to docker://…` against a real docker-registry: the layers the
/// sealed image keeps from the native one are never uploaded again — only the rewritten layers,
/// the runtime, blob and shield layers and the config go up. The uploads are counted in the registry's
/// own access log (every finished upload is a `PUT …/blobs/uploads/…?digest=`). `measure`,
/// `verify`, `run` and `inspect` read the pushed images by `docker://` as well.
@Suite(.serialized) struct RegistrySealTests {
    @Test func keptBaseLayersAreMountedOrFoundNotUploaded() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let registry = try LocalRegistry.start(in: dir + "/registry")
            defer { registry.stop() }
            let host = registry.host

            // Native image: a base layer with nothing to encrypt (kept byte for byte) and an app
            // layer under /opt/app (rewritten without the encrypted files).
            try Self.nativeLayout(at: dir + "/native")
            let push = try Tool.arca("copy", "--quiet", "oci:\(dir)/native:1", "docker://\(host)/team/native:1")
            #expect(push.status == 0, "\(push.stderr)")
            let native = try Self.manifest(host, "team/native:1")
            #expect(native.layers.count == 2)
            let base = native.layers[0]

            // Sealed into another repository of the same registry: the base layer is mounted.
            var mark = registry.logLines().count
            let seal = try Tool.arca("seal", "--from", "docker://\(host)/team/native:1", "--to", "docker://\(host)/team/sealed:1",
                                     "--encrypt", "/opt/app", "--keys", dir + "/image.key", "--format", "json",
                                     environment: ["SOURCE_DATE_EPOCH": "1700000000"])
            #expect(seal.status == 0, "\(seal.stderr)")
            let summary = try JSONSerialization.jsonObject(with: Data(seal.stdout.utf8)) as? [String: Any]
            let measurement = try #require(summary?["measurement"] as? String)
            let sealed = try Self.manifest(host, "team/sealed:1")
            // app layer rewritten, then the runtime layer, the app layer's encrypted stream (blob
            // layer) and the shield layer.
            #expect(sealed.layers.count == 5)
            #expect(sealed.layers[0] == base, "the base layer must be kept byte for byte")
            #expect(!sealed.layers[1...].contains(base))
            let fresh = Set(sealed.layers.filter { !native.layers.contains($0) } + [sealed.config])
            #expect(fresh.count == 5)
            var log = Array(registry.logLines()[mark...])
            var uploads = Self.finishedUploads(log, repository: "team/sealed")
            #expect(uploads.sorted() == fresh.sorted(), "uploads: \(uploads)")
            #expect(!uploads.contains(base))
            #expect(Self.mounts(log, repository: "team/sealed").contains(base), "the base layer was not mounted: \(log.joined(separator: "\n"))")

            // The other commands read docker:// too.
            let measured = try Tool.arca("measure", "docker://\(host)/team/sealed:1")
            #expect(measured.status == 0, "\(measured.stderr)")
            #expect(measured.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == measurement)
            let verify = try Tool.arca("verify", "docker://\(host)/team/sealed:1")
            #expect(verify.status == 0, "\(verify.stderr)")
            #expect(verify.stdout.contains("verified:"))
            let run = try Tool.arca("run", "--prepare-only", "--bundle", dir + "/bundle", "--platform-key", dir + "/platform.key",
                                    "docker://\(host)/team/sealed:1", "--keeper", "https://127.0.0.1:9")
            #expect(run.status == 0, "\(run.stderr)")
            #expect(FileSystem.exists(dir + "/bundle/rootfs/.arca/bin/arca-init"))
            #expect(FileSystem.exists(dir + "/bundle/rootfs/.arca/measured-config.json"))
            let inspect = try Tool.arca("inspect", "docker://\(host)/team/native:1")
            #expect(inspect.status == 0, "\(inspect.stderr)")
            #expect(inspect.stdout.contains(String(base.dropFirst("sha256:".count).prefix(12))), "\(inspect.stdout)")

            // Sealed again with the same keys into the native image's own repository: every blob
            // but the new tag's manifest is found by HEAD, nothing is uploaded.
            mark = registry.logLines().count
            let again = try Tool.arca("seal", "--from", "docker://\(host)/team/native:1", "--to", "docker://\(host)/team/native:sealed",
                                      "--encrypt", "/opt/app", "--keys", dir + "/image.key",
                                      environment: ["SOURCE_DATE_EPOCH": "1700000000"])
            #expect(again.status == 0, "\(again.stderr)")
            log = Array(registry.logLines()[mark...])
            uploads = Self.finishedUploads(log, repository: "team/native")
            // The sealed blobs are new to team/native (they were only in team/sealed), the base is not.
            #expect(!uploads.contains(base), "uploads: \(uploads)")
            #expect(Self.headHits(log, repository: "team/native").contains(base))
            #expect(uploads.count <= 5)
            let resealed = try Self.manifest(host, "team/native:sealed")
            #expect(resealed.layers[0] == base)
        }
    }

    // MARK: - Fixture

    static func nativeLayout(at path: String) throws {
        let base = try TarBuilder.tar([
            .directory("bin"), .directory("etc"), .directory("usr/share/base"),
            .file("bin/hello", Array("#!/bin/sh\necho hi\n".utf8), mode: 0o755),
            .file("etc/passwd", Array("root:x:0:0:root:/root:/bin/sh\n".utf8)),
            .file("usr/share/base/data.bin", pseudoRandom(256 << 10, seed: 7)),
        ])
        let app = try TarBuilder.tar([
            .directory("opt"), .directory("opt/app"), .directory("etc"),
            .file("opt/app/main.txt", Array("secret app\n".utf8)),
            .file("opt/app/model.bin", pseudoRandom(64 << 10, seed: 9)),
            .file("etc/app.conf", Array("port=8080\n".utf8)),
        ])
        let builder = try LayoutBuilder(path: path)
        var config = ContainerConfig()
        config.cmd = ["/bin/hello"]
        let layers = try [base, app].map { tar in
            (bytes: try TarBuilder.gzip(tar), diffID: Digest.sha256(of: tar), mediaType: MediaType.ociLayerGzip)
        }
        try builder.index([(try builder.image(layers: layers, config: config), tag: "1")])
    }

    static func pseudoRandom(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E3779B97F4A7C15 | 1
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    /// Layer digests and config digest of a pushed image, read back with skopeo.
    static func manifest(_ host: String, _ name: String) throws -> (layers: [String], config: String) {
        let raw = try Tool.check("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(host)/\(name)"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(raw.stdout.utf8)) as? [String: Any])
        let layers = try #require(object["layers"] as? [[String: Any]]).compactMap { $0["digest"] as? String }
        let config = try #require((object["config"] as? [String: Any])?["digest"] as? String)
        return (layers, config)
    }

    // MARK: - Access log

    /// The request line and status of each access-log line: `("PUT", "/v2/…?…", 201)`.
    static func requests(_ log: [String]) -> [(method: String, target: String, status: Int)] {
        log.compactMap { line in
            let quoted = line.split(separator: "\"", omittingEmptySubsequences: false)
            guard quoted.count > 2 else { return nil }
            let request = quoted[1].split(separator: " ")
            guard request.count == 3, request[2].hasPrefix("HTTP/"),
                  let status = quoted[2].split(separator: " ").first.flatMap({ Int($0) }) else { return nil }
            return (String(request[0]), String(request[1]), status)
        }
    }

    static func query(_ target: String, _ name: String) -> String? {
        guard let query = target.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for pair in query.split(separator: "&") where pair.hasPrefix(name + "=") {
            return String(pair.dropFirst(name.count + 1)).removingPercentEncoding
        }
        return nil
    }

    /// Digests of the uploads finished (`PUT …/blobs/uploads/…?digest=`, 201) in `repository`.
    static func finishedUploads(_ log: [String], repository: String) -> [String] {
        requests(log).filter { $0.method == "PUT" && $0.status == 201 && $0.target.hasPrefix("/v2/\(repository)/blobs/uploads/") }
            .compactMap { query($0.target, "digest") }
    }

    /// Digests mounted into `repository` (`POST …/blobs/uploads/?mount=…`, 201).
    static func mounts(_ log: [String], repository: String) -> [String] {
        requests(log).filter { $0.method == "POST" && $0.status == 201 && $0.target.hasPrefix("/v2/\(repository)/blobs/uploads/") }
            .compactMap { query($0.target, "mount") }
    }

    /// Digests a `HEAD` found in `repository`.
    static func headHits(_ log: [String], repository: String) -> [String] {
        let prefix = "/v2/\(repository)/blobs/"
        return requests(log).filter { $0.method == "HEAD" && $0.status == 200 && $0.target.hasPrefix(prefix) }
            .map { String($0.target.dropFirst(prefix.count)) }
    }
}

/// A docker-registry started with scripts/registry.sh (plain HTTP on 127.0.0.1), logging every
/// request to `directory/registry.log`.
struct LocalRegistry {
    let directory: String
    let port: Int
    var host: String { "127.0.0.1:\(port)" }
    static var script: String { Tool.repositoryRoot + "/scripts/registry.sh" }

    static func start(in directory: String) throws -> LocalRegistry {
        let result = try Tool.check(script, ["start", directory])
        guard let port = Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ArcaError(.io, "registry.sh printed no port: \(result.stdout) \(result.stderr)")
        }
        return LocalRegistry(directory: directory, port: port)
    }

    func stop() { _ = try? Tool.run(Self.script, ["stop", directory]) }

    func logLines() -> [String] {
        let text = (try? String(contentsOfFile: directory + "/registry.log", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }
}
