import ArcaArchive
import ArcaCore
import ArcaOCI
import ArcaTestSupport
import Foundation
import Testing

/// A real Debian 12 base image with Python (mmdebstrap + umoci) survives
/// oci -> docker-archive -> oci through arca with identical tree, file digests, config and diff_ids,
/// and, sealed with its `/app` encrypted, serves HTTP from Python under runc.
@Suite(.serialized) struct PythonImageTests {
    @Test func roundTripKeepsTreeConfigAndDiffIDs() async throws {
        let original = try SampleImages.pythonImage()
        try await Fixture.withTemporaryDirectory { dir in
            try Tool.check(Tool.arca, ["copy", original, "docker-archive:\(dir)/python.tar:debian/python:12"])
            try Tool.check(Tool.arca, ["copy", "docker-archive:\(dir)/python.tar", "oci:\(dir)/back:python"])

            func report(_ reference: String) throws -> [String: Any] {
                let output = try Tool.check(Tool.arca, ["inspect", "--format", "json", reference]).stdout
                return try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
            }
            let before = try report(original)
            let after = try report("oci:\(dir)/back:python")
            #expect(before["configDigest"] as? String == after["configDigest"] as? String)
            let diffIDs = { (report: [String: Any]) in (report["layers"] as? [[String: Any]])?.compactMap { $0["diffID"] as? String } }
            #expect(diffIDs(before) == diffIDs(after))
            #expect(diffIDs(before)?.isEmpty == false)
            #expect(before["cmd"] as? [String] == ["python3"])

            let originalPath = String(original.dropFirst("oci:".count).split(separator: ":").first!)
            let expected = try SampleImages.umociTree(layout: originalPath, tag: "python", bundle: dir + "/original")
            let roundTripped = try SampleImages.umociTree(layout: dir + "/back", tag: "python", bundle: dir + "/back-bundle")
            #expect(roundTripped == expected)
            #expect(expected.count > 1000)
            #expect(expected.contains { $0.hasPrefix("usr/bin/python3") })
        }
    }

    static let mark = "sealed python \(UInt64.random(in: 0...UInt64.max))"

    /// A small HTTP server on the socket module (all that python3-minimal has): the mark, the path and a sum.
    static let server = """
        import socket, sys

        MARK = "\(mark)"

        def main(port):
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", port))
            server.listen(16)
            while True:
                conn, _ = server.accept()
                with conn:
                    request = conn.recv(65536).decode("latin-1").split(" ")
                    body = ("%s %s %d\\n" % (MARK, request[1] if len(request) > 1 else "/", sum(range(101)))).encode()
                    conn.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body) + body)

        main(int(sys.argv[1]))
        """

    /// The cached python image plus a layer with `/app/server.py`, its entrypoint, tagged `app` in `mission.dir/python`.
    static func pythonApp(_ mission: RuntimeMission) throws -> String {
        try pythonImage(at: mission.dir + "/python", app: [("server.py", server)],
                        entrypoint: ["/usr/bin/python3", "/app/server.py", "\(mission.servicePort)"])
    }

    /// The cached python image copied to `layout`, plus a layer with `/app/NAME` for each of `app`
    /// (and an empty `/data`), with `entrypoint`; returns its reference (tag `app`).
    static func pythonImage(at layout: String, app: [(name: String, text: String)], entrypoint: [String]) throws -> String {
        let original = try SampleImages.pythonImage()
        let source = String(original.dropFirst("oci:".count).split(separator: ":").first!)
        try Tool.check("cp", ["-a", source, layout])
        let builder = try LayoutBuilder(path: layout)
        let image = try ImageResolver().resolve(try OCILayout(readingFrom: layout, tag: "python"))
        let layer = try TarBuilder.tar([.directory("app"), .directory("data")] + app.map { .file("app/" + $0.name, Array($0.text.utf8)) })
        var config = image.config
        config.rootfs.diffIDs.append(.sha256(of: layer))
        config.history?.append(History(created: nil, createdBy: "app layer (test)"))
        config.config?.entrypoint = entrypoint
        config.config?.cmd = nil
        var manifest = image.manifest
        manifest.config = try builder.json(config, mediaType: MediaType.ociConfig)
        manifest.layers.append(try builder.blob(layer, mediaType: MediaType.ociLayer))
        try builder.index([(try builder.json(manifest, mediaType: MediaType.ociManifest), "app")])
        return "oci:\(layout):app"
    }

    @Test(.timeLimit(.minutes(5))) func sealedPythonServiceWithEncryptedAppAnswersUnderRunc() async throws {
        var recipe = RuntimeMission.Recipe()
        recipe.native = Self.pythonApp
        recipe.encrypt = ["/app"]
        try await RuntimeMission.with(recipe) { mission in
            let bundle = try mission.bundle("run")
            #expect(!FileSystem.exists(bundle + "/rootfs/app/server.py"))  // only in the shield blob
            let onDisk = try Tool.run("grep", ["-r", "-l", "-F", Self.mark, bundle])
            #expect(onDisk.status == 1, "plaintext of server.py found: \(onDisk.stdout)")
            let name = "arca-python-\(mission.servicePort)"
            let runc = try mission.start(bundle, name: name)
            let answer = try #require(mission.get("/hello", attempts: 300), "no answer; container log: \(mission.log(name))")
            #expect(answer.stdout == "\(Self.mark) /hello 5050\n\n200", "\(answer.stdout)")
            try Tool.check("runc", ["kill", name, "TERM"])
            #expect(mission.wait(runc, name: name) == 143)  // python's default SIGTERM action
        }
    }
}
