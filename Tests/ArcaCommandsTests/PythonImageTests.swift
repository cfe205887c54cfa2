import ArcaArchive
import ArcaCore
import ArcaOCI
import ArcaTestSupport
import Foundation
import Testing

/// A real Debian 12 base image with Python (mmdebstrap + umoci) survives
/// oci -> docker-archive -> oci through arca with identical tree, file digests, config and diff_ids.
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
}
