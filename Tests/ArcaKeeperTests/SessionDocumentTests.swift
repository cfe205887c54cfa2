import ArcaCore
import ArcaSession
import Testing

@Suite struct SessionDocumentTests {
    @Test func parsesAValidSessionAndHashesItCanonically() throws {
        let session = try SessionDocument.parse(sessionYAML(signer: true))
        #expect(session.name == "shop/api")
        #expect(session.services.count == 2)
        #expect(session.services[0].environment["MODE"] == "prod")
        #expect(session.services[1].signer == SignerPolicy(signer: signerID, minimumVersion: 5))
        #expect(session.secrets[1].kind == .binary)
        #expect(session.security.allowedEvidence == ["sim"])
        // The same session in JSON (which is YAML) and with reordered keys hashes the same.
        let json = String(decoding: try SessionDocument.canonicalJSON(session), as: UTF8.self)
        let again = try SessionDocument.parse(json)
        #expect(try SessionDocument.hash(again) == SessionDocument.hash(session))
        var changed = session
        changed.services[0].command.append("--debug")
        #expect(try SessionDocument.hash(changed) != SessionDocument.hash(session))
    }

    @Test(arguments: [
        "", "Shop/api", "shop//api", "/shop", "shop/", "shop/api'; DROP TABLE sessions; --", "../etc/passwd",
        "shop/../api", "shop/ api", "shop/api\u{0}", "-shop", "shop/.hidden", String(repeating: "a", count: 129),
        "shop/%2e%2e", "shop\\api",
    ])
    func rejectsBadNames(_ name: String) throws {
        #expect(throws: ArcaError.self) { try SessionValidator.validateName(name) }
        let error = try #require(throws: ArcaError.self) { try SessionDocument.parse(sessionYAML(name: name.isEmpty ? "''" : "'\(name.replacingOccurrences(of: "'", with: "''"))'")) }
        #expect(error.code == .invalidArgument || error.code == .invalidFormat)
    }

    @Test(arguments: [
        ("services: []", "has no services"),
        ("predecessor: abc", "predecessor"),
        ("keys: {app: 1234}", "key of image app"),
    ])
    func rejectsBadFields(_ replacement: String, _ expected: String) throws {
        var yaml = sessionYAML()
        let key = replacement.split(separator: ":")[0]
        // Replace the field's block (or add it) with the bad value.
        if let range = yaml.range(of: "\n\(key):") {
            let rest = yaml[range.upperBound...]
            let end = rest.range(of: "\n[a-z]", options: .regularExpression)?.lowerBound ?? yaml.endIndex
            yaml.replaceSubrange(range.lowerBound..<end, with: "\n" + replacement)
        } else {
            yaml += replacement + "\n"
        }
        let error = try #require(throws: ArcaError.self) { try SessionDocument.parse(yaml) }
        #expect(error.message.contains(expected), "\(error.message)")
    }

    @Test func rejectsUnknownReferencesAndUnsafePaths() throws {
        for (bad, expected) in [
            ("secrets: [db_password, tls_key]", "secrets: [nope]"),
            ("path: /var/lib/app", "path: /var/../etc"),
            ("workingDir: /app", "workingDir: app"),
            ("environment: {MODE: prod}", "environment: {'BAD-NAME': x}"),
        ] {
            let yaml = sessionYAML().replacingOccurrences(of: bad, with: expected)
            #expect(throws: ArcaError.self) { try SessionDocument.parse(yaml) }
        }
    }

    @Test func refusesAliasBombsAndOversizedDocuments() throws {
        var bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...8 { bomb += "\(Character(UnicodeScalar(97 + level)!)): &\(Character(UnicodeScalar(97 + level)!)) [" +
            Array(repeating: "*\(Character(UnicodeScalar(96 + level)!))", count: 10).joined(separator: ", ") + "]\n" }
        let error = try #require(throws: ArcaError.self) { try SessionDocument.parse(bomb) }
        #expect(error.code == .limitExceeded)
        let huge = sessionYAML() + "# " + String(repeating: "x", count: SessionDocument.maximumSize) + "\n"
        #expect(throws: ArcaError.self) { try SessionDocument.parse(huge) }
    }

    @Test func everyTruncationIsAnErrorOrAValidSession() {
        let yaml = Array(sessionYAML().utf8)
        for length in 0..<yaml.count {
            let prefix = String(decoding: yaml[0..<length], as: UTF8.self)
            do {
                let session = try SessionDocument.parse(prefix)
                try SessionValidator.validate(session)
            } catch is ArcaError {
                continue
            } catch {
                Issue.record("truncation at \(length) threw a non-ArcaError: \(error)")
            }
        }
    }

    @Test func everyFlippedByteIsAnErrorOrAValidSession() {
        let yaml = Array(sessionYAML().utf8)
        for index in yaml.indices {
            var copy = yaml
            copy[index] ^= 0x20
            do {
                _ = try SessionDocument.parse(String(decoding: copy, as: UTF8.self))
            } catch is ArcaError {
                continue
            } catch {
                Issue.record("flip at \(index) threw a non-ArcaError: \(error)")
            }
        }
    }
}
