import ArcaCore
import ArcaKeeper
import ArcaKeeperAPI
import ArcaKeeperClient
import ArcaTestSupport
import Foundation
import Testing

/// Two keepers (separate stores, pools and HTTP servers, one master key) on one PostgreSQL database.
@Suite struct ReplicaTests {
    @Test func aNonceIssuedByOneReplicaIsRedeemedAtTheOtherExactlyOnce() async throws {
        let url = try await PostgresCluster.shared.freshDatabase()
        try await withStore(.postgres, databaseURL: url) { storeA, dirA in
            try await withStore(.postgres, databaseURL: url) { storeB, _ in
                let key = try KeeperMasterKey.loadOrCreate(path: "\(dirA)/master.key")
                try await withKeeper(store: storeA, dir: dirA, masterKey: key) { a in
                    try await withKeeper(store: storeB, dir: dirA, masterKey: key) { b in
                        let owner = try TLSIdentity.generate(commonName: "owner")
                        let runtime = SimRuntime()
                        try await storeA.addPlatform(runtime.platformRecord)
                        _ = try await a.client(owner).createSession(document: sessionYAML())
                        let nonce = try await a.client(nil).nonce(session: "shop/api", service: "web").nonce
                        let request = runtime.request(session: "shop/api", service: "web", nonce: nonce,
                                                      evidence: try runtime.evidence(nonce: nonce, measurement: measurementA))
                        // Both replicas race to redeem it; exactly one releases.
                        let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                            for replica in [a, b, a, b] {
                                group.addTask {
                                    do {
                                        _ = try await replica.client(nil).release(request)
                                        return "released"
                                    } catch let error as KeeperRequestError {
                                        return error.reason
                                    }
                                }
                            }
                            return try await group.reduce(into: [String]()) { $0.append($1) }
                        }
                        #expect(outcomes.filter { $0 == "released" }.count == 1)
                        #expect(outcomes.filter { $0 == "nonce-unknown" }.count == 3)
                    }
                }
            }
        }
    }

    @Test func racingAnchorUpdatesAcrossReplicasLeaveOneConsistentVersion() async throws {
        let url = try await PostgresCluster.shared.freshDatabase()
        try await withStore(.postgres, databaseURL: url) { storeA, dirA in
            try await withStore(.postgres, databaseURL: url) { storeB, _ in
                let key = try KeeperMasterKey.loadOrCreate(path: "\(dirA)/master.key")
                try await withKeeper(store: storeA, dir: dirA, masterKey: key) { a in
                    try await withKeeper(store: storeB, dir: dirA, masterKey: key) { b in
                        let owner = try TLSIdentity.generate(commonName: "owner")
                        _ = try await a.client(owner).createSession(document: sessionYAML())
                        // Twelve writers across both replicas each try lease -> intent(v0 -> v1) -> commit.
                        let committed = try await withThrowingTaskGroup(of: String?.self) { group in
                            for i in 0..<12 {
                                let replica = i % 2 == 0 ? a : b
                                group.addTask {
                                    let client = try replica.client(owner)
                                    let holder = "writer-\(i)"
                                    let root = String(repeating: String(format: "%02x", i), count: 32)
                                    do {
                                        _ = try await client.anchor("lease", AnchorRequest(session: "shop/api", volume: "data", holder: holder, leaseSeconds: 600))
                                        _ = try await client.anchor("intent", AnchorRequest(session: "shop/api", volume: "data", holder: holder,
                                                                                            expectedVersion: 0, rootHash: root))
                                        _ = try await client.anchor("commit", AnchorRequest(session: "shop/api", volume: "data", holder: holder, version: 1))
                                        return root
                                    } catch let error as KeeperRequestError where error.reason == "anchor-conflict" {
                                        return nil
                                    }
                                }
                            }
                            return try await group.reduce(into: [String]()) { if let root = $1 { $0.append(root) } }
                        }
                        #expect(committed.count == 1)
                        let state = try await storeB.anchor(session: "shop/api", volume: "data")
                        #expect(state.version == 1)
                        #expect(state.rootHash == committed.first)
                        #expect(state.pendingVersion == nil)
                    }
                }
            }
        }
    }
}
