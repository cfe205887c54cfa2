import ArcaCore
import ArcaKeeper
import ArcaSession
import ArcaTestSupport
import Foundation
import Testing

@Suite struct KeeperMasterKeyTests {
    @Test func aCopyOfTheDatabaseRevealsNoKeyOrSecret() async throws {
        try await withStore(.sqlite) { store, dir in
            let keeper = Keeper(store: store, masterKey: try KeeperMasterKey.loadOrCreate(path: "\(dir)/master.key"))
            _ = try await keeper.createSession(document: sessionYAML(), client: "owner")
            let shown = try await keeper.showSession(name: "shop/api", client: "owner")
            let session = try SessionDocument.decodeJSON(Array(shown.session.utf8))
            let secrets = [shieldKey, try #require(session.secrets[0].value), try #require(session.volumes[0].key)]
            var database: [UInt8] = []
            for file in try FileManager.default.contentsOfDirectory(atPath: dir) where file.hasPrefix("keeper.sqlite") {
                database += try FileSystem.readFile("\(dir)/\(file)", limit: 64 << 20)
            }
            #expect(database.count > 0)
            for secret in secrets {
                #expect(database.firstRange(of: Array(secret.utf8)) == nil, "the database holds a key in clear")
            }
            // Under another master key the sealed rows are useless.
            let other = Keeper(store: store, masterKey: try KeeperMasterKey(bytes: Array(repeating: 7, count: 32)))
            await #expect(throws: ArcaError.self) { _ = try await other.showSession(name: "shop/api", client: "owner") }
        }
    }

    @Test func concurrentCreationGivesOneKeyAndLooseModesAreRefused() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let path = "\(dir)/master.key"
            let sealed = try await withThrowingTaskGroup(of: [UInt8].self) { group in
                for _ in 0..<8 {
                    group.addTask { try KeeperMasterKey.loadOrCreate(path: path).seal([1, 2, 3], name: "a") }
                }
                return try await group.reduce(into: [[UInt8]]()) { $0.append($1) }
            }
            // Every instance opens what every other sealed: they all hold the same key.
            let key = try KeeperMasterKey.loadOrCreate(path: path)
            for box in sealed { #expect(try key.open(box, name: "a") == [1, 2, 3]) }
            #expect(throws: ArcaError.self) { try key.open(sealed[0], name: "b") }
            #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
            chmod(path, 0o644)
            let error = try #require(throws: ArcaError.self) { try KeeperMasterKey.loadOrCreate(path: path) }
            #expect(error.message.contains("chmod 600"))
        }
    }
}
