import ArcaMeasurement
import ArcaCore
import ArcaSeal
import Testing

@Suite struct PolicyTests {
    @Test func longestPrefixWins() throws {
        let policy = try ProtectionPolicy(ProtectionPolicy.rules(
            encrypt: ["/app"], authenticate: ["/app/public"], ephemeral: ["/tmp"], volumes: ["data:/var/lib/app"], host: ["/etc/resolv.conf"]))
        #expect(policy.classify("/usr/bin/python3") == .authenticated)
        #expect(policy.classify("/app") == .encrypted)
        #expect(policy.classify("/app/server.py") == .encrypted)
        #expect(policy.classify("/app/public/index.html") == .authenticated)
        #expect(policy.classify("/application") == .authenticated)
        #expect(policy.classify("/tmp/x") == .ephemeral)
        #expect(policy.classify("/var/lib/app/db") == .volume("data"))
        #expect(policy.classify("/etc/resolv.conf") == .host)
    }

    @Test func pathsAreNormalized() throws {
        let policy = try ProtectionPolicy([PolicyRule(path: "//app/./x/", pathClass: .encrypted)])
        #expect(policy.paths(of: .encrypted) == ["/app/x"])
    }

    @Test(arguments: [
        ([PolicyRule(path: "app", pathClass: .encrypted)], "relative"),
        ([PolicyRule(path: "/app/../etc", pathClass: .encrypted)], "contains .."),
        ([PolicyRule(path: "/app", pathClass: .encrypted), PolicyRule(path: "/app/", pathClass: .authenticated)], "two classes"),
        ([PolicyRule(path: "/app", pathClass: .encrypted), PolicyRule(path: "/app/data", pathClass: .volume("data"))], "inside the encrypted path"),
        ([PolicyRule(path: "/a", pathClass: .volume("v")), PolicyRule(path: "/b", pathClass: .volume("v"))], "mounted at both"),
        ([PolicyRule(path: "/a", pathClass: .volume("bad name"))], "volume name"),
        ([PolicyRule(path: "/tmp", pathClass: .ephemeral), PolicyRule(path: "/tmp/v", pathClass: .volume("v"))], "inside ephemeral"),
        ([PolicyRule(path: "/", pathClass: .ephemeral)], "/ must be"),
    ])
    func badPoliciesAreRefused(_ rules: [PolicyRule], _ message: String) {
        let error = #expect(throws: ArcaError.self) { try ProtectionPolicy(rules) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
    }

    @Test func volumeFlagNeedsAName() {
        #expect(throws: ArcaError.self) {
            try ProtectionPolicy.rules(encrypt: [], authenticate: [], ephemeral: [], volumes: ["/var/lib/app"], host: [])
        }
    }

    @Test func policyFileSaysTheSameAsFlags() throws {
        let yaml = """
            encrypt: [/app]
            ephemeral: [/tmp]
            volumes: {data: /var/lib/app}
            host: [/etc/resolv.conf]
            """
        let fromFile = try ProtectionPolicy(ProtectionPolicy.rules(yaml: yaml, source: "policy.yaml"))
        let fromFlags = try ProtectionPolicy(ProtectionPolicy.rules(
            encrypt: ["/app"], authenticate: [], ephemeral: ["/tmp"], volumes: ["data:/var/lib/app"], host: ["/etc/resolv.conf"]))
        #expect(fromFile == fromFlags)
        let bad = #expect(throws: ArcaError.self) { try ProtectionPolicy.rules(yaml: "encrypt: 7", source: "policy.yaml") }
        #expect(bad?.message.contains("policy.yaml") == true)
    }
}
