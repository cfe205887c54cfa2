import ArcaCore
import ArcaTestSupport
import Foundation
import Testing

/// The CLI's contract: results on stdout, progress and errors on stderr, clear errors, exit codes.
@Suite struct CommandLineTests {
    @Test func badReferenceExitsNonZeroNamingTheAcceptedForms() throws {
        let result = try Tool.arca("inspect", "registry.local/app")
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("registry.local/app"))
        #expect(result.stderr.contains("oci:DIR[:TAG]"))
    }

    @Test func missingImageIsAClearError() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let result = try Tool.arca("copy", "oci:\(dir)/nothing:tag", "oci:\(dir)/out:tag")
            #expect(result.status != 0)
            #expect(result.stderr.contains("\(dir)/nothing does not exist"))
            #expect(!FileSystem.exists(dir + "/out/index.json"))
        }
    }

    @Test func progressGoesToStderrAsPlainLinesWhenNotATerminal() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try SampleImages.umociImage(in: dir)
            let result = try Tool.arca("copy", "oci:\(layout):sample", "oci:\(dir)/out:x")
            #expect(result.status == 0)
            #expect(result.stdout.trimmingCharacters(in: .newlines).hasPrefix("sha256:"))
            #expect(result.stdout.split(separator: "\n").count == 1)
            #expect(result.stderr.contains("copying 2 layers"))
            #expect(!result.stderr.contains("\u{1B}["))  // no terminal escapes in logs
            let quiet = try Tool.arca("copy", "--quiet", "oci:\(layout):sample", "oci:\(dir)/out:y")
            #expect(quiet.stderr.isEmpty)
        }
    }

    @Test func helpExplainsTheCommands() throws {
        let help = try Tool.arca("--help")
        #expect(help.stdout.contains("inspect"))
        #expect(help.stdout.contains("copy"))
        let copyHelp = try Tool.arca("copy", "--help")
        #expect(copyHelp.stdout.contains("--compression"))
        #expect(copyHelp.stdout.contains("docker-archive:FILE"))
    }

    @Test func compressionLevelIsValidated() throws {
        let result = try Tool.arca("copy", "--compression", "gzip", "--compression-level", "12", "oci:a:b", "oci:c:d")
        #expect(result.status != 0)
        #expect(result.stderr.contains("gzip takes 1-9"))
    }

    @Test func textInspectShowsConfigAndLayers() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try SampleImages.umociImage(in: dir)
            let result = try Tool.arca("inspect", "--tree", "oci:\(layout):sample")
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("Entrypoint  [\"/bin/sh\"]"))
            #expect(result.stdout.contains("GREETING=hello"))
            #expect(result.stdout.contains("Total: 2 layers"))
            #expect(result.stdout.contains("/opt/app/new.txt"))
            #expect(!result.stdout.contains("/etc/remove-me"))
            #expect(result.stdout.contains("/etc/absolute-link -> /etc/passwd"))
        }
    }
}
