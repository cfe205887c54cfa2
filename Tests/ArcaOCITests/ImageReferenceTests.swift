import ArcaCore
import ArcaOCI
import Testing

@Suite struct ImageReferenceTests {
    @Test func parsesOCILayout() throws {
        #expect(try ImageReference(parsing: "oci:/tmp/layout:1.0") == .ociLayout(path: "/tmp/layout", tag: "1.0"))
        #expect(try ImageReference(parsing: "oci:layout") == .ociLayout(path: "layout", tag: nil))
    }

    @Test func parsesDockerArchive() throws {
        #expect(try ImageReference(parsing: "docker-archive:/tmp/a.tar") == .dockerArchive(path: "/tmp/a.tar", name: nil))
        #expect(try ImageReference(parsing: "docker-archive:a.tar:app:1.0") == .dockerArchive(path: "a.tar", name: "app:1.0"))
    }

    @Test func normalizesRegistryReferences() throws {
        guard case .registry(let bare) = try ImageReference(parsing: "docker://busybox") else {
            Issue.record("not a registry reference")
            return
        }
        #expect(bare.description == "docker.io/library/busybox:latest")
        guard case .registry(let local) = try ImageReference(parsing: "docker://127.0.0.1:5000/team/app:2") else {
            Issue.record("not a registry reference")
            return
        }
        #expect(local.registry == "127.0.0.1:5000")
        #expect(local.repository == "team/app")
        #expect(local.tag == "2")
        let digest = String(repeating: "a", count: 64)
        guard case .registry(let pinned) = try ImageReference(parsing: "docker://localhost/app@sha256:\(digest)") else {
            Issue.record("not a registry reference")
            return
        }
        #expect(pinned.tag == nil)
        #expect(pinned.digest?.encoded == digest)
    }

    @Test(arguments: ["", "layout", "dir:/tmp/x", "oci:", "oci:/x:bad tag", "docker:/x", "docker://UPPER/Case", "docker://app@sha256:12",
                      "docker-archive:", "docker-archive:a.tar:Bad Name"])
    func rejectsBadReferencesShowingTheAcceptedForms(_ text: String) {
        let error = #expect(throws: ArcaError.self) { try ImageReference(parsing: text) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("oci:DIR[:TAG]") == true)
        #expect(error?.message.contains("docker-archive:FILE") == true)
    }
}

@Suite struct DigestTests {
    @Test func acceptsSHA256() throws {
        let text = "sha256:" + String(repeating: "0", count: 64)
        #expect(try Digest(parsing: text).description == text)
    }

    @Test(arguments: ["sha256:" + String(repeating: "A", count: 64), "sha256:abc", "md5:" + String(repeating: "0", count: 32),
                      "sha256" + String(repeating: "0", count: 64), "sha256:" + String(repeating: "0", count: 63) + "g"])
    func rejectsMalformedDigests(_ text: String) {
        #expect(throws: ArcaError.self) { try Digest(parsing: text) }
    }

    @Test func platformParsing() throws {
        #expect(try Platform(parsing: "linux/arm64/v8").variant == "v8")
        #expect(throws: ArcaError.self) { try Platform(parsing: "linux") }
        #expect(throws: ArcaError.self) { try Platform(parsing: "linux//") }
    }
}
