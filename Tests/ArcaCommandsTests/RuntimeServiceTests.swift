import ArcaCore
import ArcaTestSupport
import Foundation
import Testing

/// More of `arca-init` under runc, as root: secret files from the release, PID 1 reaping orphans,
/// fail-closed when the protected root's file system dies, and the guidance when the container
/// lacks /dev/fuse or CAP_SYS_ADMIN.
@Suite(.serialized) struct RuntimeServiceTests {
    static let token = "token-\(UInt64.random(in: 0...UInt64.max))"

    /// A CGI script that shows the secret files: their listing, one's content, their mounts.
    static let infoScript = """
        #!/bin/sh
        echo "Content-Type: text/plain"
        echo
        /bin/busybox ls -ln /etc/app/token /run/secrets/key
        /bin/busybox cat /etc/app/token; echo
        /bin/busybox wc -c /run/secrets/key
        /bin/busybox grep -E ' /(etc/app/token|run/secrets/key) ' /proc/mounts
        /bin/busybox id -u
        """

    @Test func secretFilesAreInMemoryReadOnlyAndOwnedByTheServiceUser() async throws {
        var recipe = RuntimeMission.Recipe()
        recipe.files = ["/var/www/cgi-bin/info": (Self.infoScript, 0o755),
                        "/etc/passwd": ("root:x:0:0:root:/:/bin/sh\napp:x:1000:1000:app:/:/bin/sh\n", 0o644),
                        "/etc/group": ("root:x:0:\napp:x:1000:\n", 0o644)]
        recipe.user = "app"
        recipe.ephemeral = ["/tmp", "/run"]
        recipe.editSession = { session in
            // The service receives two secrets: one given, at a path the image lacks below an
            // authenticated directory, one generated (32 random bytes) on an ephemeral path.
            session.replacingOccurrences(of: "\n  secrets: []", with: "\n  secrets: [token, key]")
                .replacingOccurrences(of: "\nsecrets: []", with: """

                    secrets:
                    - {name: token, kind: given, value: \(Self.token), file: /etc/app/token}
                    - {name: key, kind: binary, size: 32, file: /run/secrets/key}
                    """)
        }
        try await RuntimeMission.with(recipe) { mission in
            #expect(try String(contentsOfFile: mission.dir + "/session.yaml", encoding: .utf8).contains(Self.token))
            let bundle = try mission.bundle("run")
            let name = "arca-secrets-\(mission.servicePort)"
            let runc = try mission.start(bundle, name: name)
            let answer = try #require(mission.get("/cgi-bin/info"), "no answer; container log: \(mission.log(name))")
            let lines = answer.stdout.split(separator: "\n").map(String.init)
            #expect(answer.stdout.hasSuffix("200"), "\(answer.stdout)")
            let token = try #require(lines.first { $0.hasSuffix("/etc/app/token") }, "\(answer.stdout)")
            let key = try #require(lines.first { $0.hasSuffix("/run/secrets/key") }, "\(answer.stdout)")
            for listing in [token, key] {
                let fields = listing.split(separator: " ")
                #expect(fields.first == "-r--------", "\(listing)")
                #expect(Array(fields.dropFirst(2).prefix(2)) == ["1000", "1000"], "\(listing)")
            }
            #expect(lines.contains(Self.token))
            #expect(lines.contains { $0.hasPrefix("32 ") })
            let mounts = lines.filter { $0.hasPrefix("tmpfs ") }
            #expect(mounts.count == 2, "\(answer.stdout)")
            #expect(mounts.allSatisfy { $0.split(separator: " ")[3].hasPrefix("ro,") }, "\(mounts)")
            #expect(lines.contains("1000"))
            // Nothing of the secret reached the host's disk: not in the bundle, not in the log.
            let found = try Tool.run("grep", ["-r", "-l", "-F", Self.token, bundle])
            #expect(found.status == 1, "\(found.stdout)")
            #expect(!mission.log(name).contains(Self.token))
            try Tool.check("runc", ["kill", name, "TERM"])
            #expect(mission.wait(runc, name: name) == 143)
        }
    }

    @Test func orphansOfTheServiceAreReapedUnderRunc() async throws {
        var recipe = RuntimeMission.Recipe()
        recipe.entrypoint = { mission in
            // Each subshell exits at once, orphaning its `sleep`, which PID 1 (arca-init) adopts.
            ["/bin/sh", "-c", "for i in 1 2 3 4 5; do ( sleep 3 & ); done; exec httpd -f -p \(mission.servicePort) -h /var/www"]
        }
        try await RuntimeMission.with(recipe) { mission in
            let name = "arca-orphans-\(mission.servicePort)"
            let runc = try mission.start(mission.bundle("run"), name: name)
            _ = try #require(mission.get(), "no answer; container log: \(mission.log(name))")
            let initPID = try mission.initPID(name)
            // busybox may run `sleep` in the forked shell without exec, so orphans are "not httpd".
            let adopted = try RuntimeMission.processes(inNamespaceOf: initPID).filter { $0.parent == initPID && $0.command != "httpd" }
            #expect(adopted.count == 5, "\(adopted)")
            Thread.sleep(forTimeInterval: 4)
            let after = try RuntimeMission.processes(inNamespaceOf: initPID)
            #expect(!after.contains { $0.state == "Z" }, "zombies: \(after)")
            #expect(after.filter { $0.parent == initPID }.map(\.command) == ["httpd"], "\(after)")
            try Tool.check("runc", ["kill", name, "TERM"])
            #expect(mission.wait(runc, name: name) == 143)
        }
    }

    @Test func theServiceIsStoppedWhenTheProtectedRootsFileSystemFails() async throws {
        try await RuntimeMission.with { mission in
            let name = "arca-failclosed-\(mission.servicePort)"
            let runc = try mission.start(mission.bundle("run"), name: name)
            _ = try #require(mission.get(), "no answer; container log: \(mission.log(name))")
            // The container's root is the FUSE mount; abort its connection as a crashed server would end it.
            let initPID = try mission.initPID(name)
            let device = try Tool.check("stat", ["-L", "-c", "%Hd %Ld", "/proc/\(initPID)/root/"]).stdout.split(separator: " ")
            let major = try #require(UInt32(device[0])), minor = try #require(UInt32(device[1].trimmingCharacters(in: .whitespacesAndNewlines)))
            let connections = "/sys/fs/fuse/connections"
            if (try? FileSystem.listDirectory(connections))?.isEmpty ?? true {
                _ = try? Tool.run("mount", ["-t", "fusectl", "fusectl", connections])
            }
            let abort = "\(connections)/\(major << 20 | minor)/abort"
            #expect(FileSystem.exists(abort), "no \(abort)")
            let handle = try #require(FileHandle(forWritingAtPath: abort))
            try handle.write(contentsOf: Data("1".utf8))
            try handle.close()
            #expect(mission.wait(runc, name: name) == 143)  // httpd stopped with SIGTERM
            #expect(mission.log(name).contains("stopping the service: the protected root's file system stopped"), "\(mission.log(name))")
        }
    }

    /// Runs the sealed image in a bundle whose config.json `edit` changed; returns (status, log).
    private func runEdited(_ mission: RuntimeMission, name: String, _ edit: (inout [String: Any]) -> Void) throws -> (Int32, String) {
        let bundle = try mission.bundle(name)
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: bundle + "/config.json"))) as? [String: Any])
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: bundle + "/config.json"))
        let container = "arca-\(name)-\(mission.servicePort)"
        let runc = try mission.start(bundle, name: container)
        return (mission.wait(runc, name: container), mission.log(container))
    }

    @Test func withoutFUSEOrSysAdminTheMessageNamesEverySetting() async throws {
        try await RuntimeMission.with { mission in
            let noDevice = try runEdited(mission, name: "nofuse") { config in
                var linux = config["linux"] as? [String: Any] ?? [:]
                linux["devices"] = []
                config["linux"] = linux
            }
            let noCapability = try runEdited(mission, name: "nocap") { config in
                var process = config["process"] as? [String: Any] ?? [:]
                var capabilities = process["capabilities"] as? [String: [String]] ?? [:]
                for key in capabilities.keys { capabilities[key]?.removeAll { $0 == "CAP_SYS_ADMIN" } }
                process["capabilities"] = capabilities
                config["process"] = process
            }
            #expect(noDevice.1.contains("/dev/fuse cannot be opened"), "\(noDevice.1)")
            #expect(noCapability.1.contains("CAP_SYS_ADMIN is not in this container's effective capabilities"), "\(noCapability.1)")
            for (status, log) in [noDevice, noCapability] {
                #expect(status != 0)
                #expect(log.contains(#""devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229"#), "\(log)")
                #expect(log.contains("\"CAP_SYS_ADMIN\" in process.capabilities.bounding, effective and permitted"))
                #expect(log.contains("--device /dev/fuse --cap-add SYS_ADMIN"))
                #expect(log.contains(#"securityContext: {capabilities: {add: ["SYS_ADMIN"]}}"#))
                #expect(!log.contains("started "))  // nothing attested, mounted or executed
                #expect(!log.contains("measurement"))
            }
        }
    }
}
