import ArcaCore
import ArcaKeeperLink
import Testing

@Suite struct KeeperAddressTests {
    @Test func parsesHostsAndPorts() throws {
        #expect(try KeeperAddress(url: "https://keeper.internal:9443") == KeeperAddress(host: "keeper.internal", port: 9443))
        #expect(try KeeperAddress(url: "https://keeper.internal/").port == KeeperAddress.defaultPort)
        #expect(try KeeperAddress(url: "https://10.0.0.1:8443").isDNSName == false)
        #expect(try KeeperAddress(url: "https://keeper.internal").isDNSName)
        let v6 = try KeeperAddress(url: "https://[::1]:8443")
        #expect(v6.host == "::1" && v6.port == 8443 && v6.description == "[::1]:8443" && !v6.isDNSName)
    }

    @Test func refusesEverythingElse() {
        for url in ["http://keeper:8443", "keeper:8443", "https://", "https://:8443", "https://keeper:0", "https://keeper:65536",
                    "https://keeper:http", "https://keeper:+80", "https://user@keeper", "https://keeper/v1", "https://keeper?x",
                    "https://::1:8443", "https://[::1", "https://[keeper]:1", "https://[::1]x", "https://kee per",
                    "https://keeper\r\nX: y", "https://" + String(repeating: "a", count: 300)] {
            #expect(throws: ArcaError.self, "\(url)") { try KeeperAddress(url: url) }
        }
    }

    @Test func environmentOverridesTheMeasuredAddress() throws {
        #expect(try KeeperAddress.resolve(measured: "https://a:1", override: "https://b:2") == KeeperAddress(host: "b", port: 2))
        #expect(try KeeperAddress.resolve(measured: "https://a:1", override: "") == KeeperAddress(host: "a", port: 1))
        #expect(try KeeperAddress.resolve(measured: "https://a:1", override: nil) == KeeperAddress(host: "a", port: 1))
        #expect(throws: ArcaError.self) { try KeeperAddress.resolve(measured: nil, override: nil) }
    }
}
