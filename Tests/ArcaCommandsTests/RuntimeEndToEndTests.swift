import ArcaCore
import ArcaTestSupport
import Foundation
import Testing

/// The whole mission under runc, as root (`RuntimeMission`): a sealed busybox-static image (no libc)
/// whose web root is encrypted, a real keeper process, the sim platform key, `arca run`'s bundle, and `runc run`.
@Suite(.serialized) struct RuntimeEndToEndTests {
    typealias Mission = RuntimeMission

    private func withMission(allowHostArguments: Bool = false, _ body: (Mission) throws -> Void) async throws {
        var recipe = RuntimeMission.Recipe()
        recipe.allowHostArguments = allowHostArguments
        try await RuntimeMission.with(recipe, body)
    }

    @Test func sealedServiceAnswersAndStopsWithTheServicesStatus() async throws {
        try await withMission { mission in
            let bundle = try mission.bundle("run")
            #expect(!FileSystem.exists(bundle + "/rootfs/var/www/index.html"))  // only in the shield blob
            let name = "arca-e2e-\(mission.servicePort)"
            let runc = try mission.start(bundle, name: name)
            let answer = try #require(mission.get(), "no answer; container log: \(mission.log(name))")
            #expect(answer.stdout.hasSuffix("200"))
            #expect(answer.stdout.hasPrefix(Mission.page))
            #expect(mission.log(name).contains("WARNING: sim evidence"))
            try Tool.check("runc", ["kill", name, "TERM"])
            #expect(mission.wait(runc, name: name) == 143)  // httpd's own death by SIGTERM, 128 + 15
        }
    }

    @Test func aFlippedByteInTheShieldBlobIsAnErrorNeverWrongBytes() async throws {
        try await withMission { mission in
            let bundle = try mission.bundle("run")
            let blobs = bundle + "/rootfs/.arca/shield/blobs"
            let blob = blobs + "/" + (try #require(try FileSystem.listDirectory(blobs).first))
            var bytes = try FileSystem.readFile(blob, limit: 1 << 26)
            bytes[64 + 10] ^= 0x01  // inside the first sealed chunk, after the 64-byte header
            try FileSystem.writeAtomically(bytes, to: blob)
            let name = "arca-e2e-flip-\(mission.servicePort)"
            let runc = try mission.start(bundle, name: name)
            let answer = mission.get()
            #expect(answer.map { !$0.stdout.contains("sealed page") } ?? true)
            #expect(answer.map { !$0.stdout.hasSuffix("200") } ?? true)
            #expect(mission.log(name).contains("refused /var/www/index.html"), "\(mission.log(name))")
            _ = try? Tool.run("runc", ["kill", name, "KILL"])
            _ = mission.wait(runc, name: name)
        }
    }

    @Test func aModifiedMeasuredConfigIsDeniedAndNothingRuns() async throws {
        try await withMission { mission in
            let bundle = try mission.bundle("run")
            let path = bundle + "/rootfs/.arca/measured-config.json"
            let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "\"-f\"", with: "\"-v\"")
            try FileSystem.writeAtomically(Array(text.utf8), to: path)
            let name = "arca-e2e-denied-\(mission.servicePort)"
            let runc = try mission.start(bundle, name: name)
            let status = mission.wait(runc, name: name)
            #expect(status != 0)
            let log = mission.log(name)
            #expect(log.contains("measurement"), "\(log)")
            #expect(log.contains("403") || log.contains("measurement-mismatch"), "\(log)")
            #expect(!log.contains("started /bin/httpd"))
        }
    }

    @Test func keeperDownIsAClearError() async throws {
        try await withMission { mission in
            let bundle = try mission.bundle("run")
            mission.stopKeeper()
            let name = "arca-e2e-down-\(mission.servicePort)"
            let runc = try mission.start(bundle, name: name)
            let status = mission.wait(runc, name: name)
            #expect(status != 0)
            #expect(mission.log(name).contains("unreachable"), "\(mission.log(name))")
            #expect(!mission.log(name).contains("started /bin/httpd"))
        }
    }

    @Test func theSameSealedImageRunsTwiceAtOnce() async throws {
        // The session allows host arguments, so the second copy can listen on another port.
        try await withMission(allowHostArguments: true) { mission in
            let otherPort = mission.servicePort + 1
            let names = ["arca-e2e-one-\(mission.servicePort)", "arca-e2e-two-\(mission.servicePort)"]
            let first = try mission.start(mission.bundle("one"), name: names[0])
            let second = try mission.start(mission.bundle("two", arguments: ["-f", "-p", "\(otherPort)", "-h", "/var/www"]), name: names[1])
            for port in [mission.servicePort, otherPort] {
                let answer = try #require(mission.get(port: port), "no answer on \(port): \(mission.log(names[0])) \(mission.log(names[1]))")
                #expect(answer.stdout.hasPrefix(Mission.page))
            }
            for name in names { try Tool.check("runc", ["kill", name, "TERM"]) }
            #expect(mission.wait(first, name: names[0]) == 143)
            #expect(mission.wait(second, name: names[1]) == 143)
        }
    }

    @Test func hostArgumentsAreIgnoredUnlessTheSessionAllowsThem() async throws {
        try await withMission { mission in
            let name = "arca-e2e-args-\(mission.servicePort)"
            let runc = try mission.start(mission.bundle("run", arguments: ["-f", "-p", "\(mission.servicePort + 1)", "-h", "/"]), name: name)
            let answer = try #require(mission.get(), "\(mission.log(name))")  // still the sealed port and web root
            #expect(answer.stdout.hasPrefix(Mission.page))
            try Tool.check("runc", ["kill", name, "TERM"])
            _ = mission.wait(runc, name: name)
        }
    }
}
