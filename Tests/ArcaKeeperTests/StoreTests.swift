import ArcaCore
import ArcaKeeper
import ArcaKeeperAPI
import Foundation
import Testing

/// The same suite against SQLite and PostgreSQL.
@Suite struct StoreTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func stored(_ name: String, hash: String, owner: String = "owner") -> StoredSession {
        StoredSession(name: name, owner: owner, version: "1", hash: hash, sealed: [1, 2, 3], createdAt: Self.t0, updatedAt: Self.t0)
    }

    @Test(arguments: StoreKind.allCases)
    func sessionsCreateOnceAndUpdateByCompareAndSwap(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            try await store.createSession(stored("shop/api", hash: "h1"))
            let error = await #expect(throws: ArcaError.self) { try await store.createSession(stored("shop/api", hash: "h9")) }
            #expect(error?.code == .alreadyExists)
            #expect(try await store.updateSession(stored("shop/api", hash: "h2"), predecessor: "h1"))
            #expect(try await !store.updateSession(stored("shop/api", hash: "h3"), predecessor: "h1"))
            #expect(try await store.session(named: "shop/api")?.hash == "h2")
            #expect(try await store.sessions(ownedBy: "owner").map(\.name) == ["shop/api"])
            #expect(try await store.sessions(ownedBy: "someone").isEmpty)
            // Names with SQL and path metacharacters are plain data.
            let odd = "x'); DROP TABLE sessions; --/../\u{0}%"
            #expect(try await store.session(named: odd) == nil)
            #expect(try await store.deleteSession(named: "shop/api"))
            #expect(try await !store.deleteSession(named: "shop/api"))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentUpdatesHaveExactlyOneWinner(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            try await store.createSession(stored("shop/api", hash: "base"))
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<8 {
                    group.addTask { try await store.updateSession(stored("shop/api", hash: "next\(i)"), predecessor: "base") }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(wins == 1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func noncesAreSingleUse(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let nonce = NonceRecord(nonce: "n1", session: "shop/api", service: "web", expiresAt: Self.t0.addingTimeInterval(60))
            try await store.insertNonce(nonce)
            let redeemed = try await withThrowingTaskGroup(of: NonceRecord?.self) { group in
                for _ in 0..<6 { group.addTask { try await store.redeemNonce("n1") } }
                return try await group.compactMap { $0 }.reduce(into: [NonceRecord]()) { $0.append($1) }
            }
            #expect(redeemed == [nonce])
            try await store.insertNonce(NonceRecord(nonce: "old", session: "s", service: "w", expiresAt: Self.t0))
            try await store.purgeNonces(expiredBefore: Self.t0.addingTimeInterval(1))
            #expect(try await store.redeemNonce("old") == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func anchorsLeaseIntentAndCommit(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let root = String(repeating: "ab", count: 32)
            #expect(try await store.anchor(session: "s", volume: "v") == AnchorState(version: 0, rootHash: ""))
            _ = try await store.updateAnchor(session: "s", volume: "v") {
                try AnchorLogic.lease($0, holder: "w1", seconds: 30, now: Self.t0)
            }
            // Another writer cannot lease, write an intent or commit while the lease runs.
            await #expect(throws: ArcaError.self) {
                try await store.updateAnchor(session: "s", volume: "v") { try AnchorLogic.lease($0, holder: "w2", seconds: 30, now: Self.t0) }
            }
            await #expect(throws: ArcaError.self) {
                try await store.updateAnchor(session: "s", volume: "v") {
                    try AnchorLogic.intent($0, holder: "w2", expectedVersion: 0, rootHash: root, now: Self.t0)
                }
            }
            // A stale expected version loses.
            await #expect(throws: ArcaError.self) {
                try await store.updateAnchor(session: "s", volume: "v") {
                    try AnchorLogic.intent($0, holder: "w1", expectedVersion: 3, rootHash: root, now: Self.t0)
                }
            }
            _ = try await store.updateAnchor(session: "s", volume: "v") {
                try AnchorLogic.intent($0, holder: "w1", expectedVersion: 0, rootHash: root, now: Self.t0)
            }
            #expect(try await store.anchor(session: "s", volume: "v").pendingVersion == 1)
            let committed = try await store.updateAnchor(session: "s", volume: "v") {
                try AnchorLogic.commit($0, holder: "w1", version: 1, now: Self.t0)
            }
            #expect(committed.version == 1 && committed.rootHash == root && committed.pendingVersion == nil)
            // After expiry another writer takes over, and a stale intent is void.
            let later = Self.t0.addingTimeInterval(31)
            let taken = try await store.updateAnchor(session: "s", volume: "v") {
                try AnchorLogic.lease($0, holder: "w2", seconds: 30, now: later)
            }
            #expect(taken.leaseHolder == "w2" && taken.version == 1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func racingAnchorUpdatesStayConsistent(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let root = String(repeating: "cd", count: 32)
            _ = try await store.updateAnchor(session: "s", volume: "v") {
                try AnchorLogic.lease($0, holder: "w", seconds: 600, now: Self.t0)
            }
            // 10 racers all try to move version 0 -> 1; exactly one intent wins.
            let wins = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        (try? await store.updateAnchor(session: "s", volume: "v") { state in
                            guard state.pendingVersion == nil else { throw ArcaError(.conflict, "intent pending") }
                            return try AnchorLogic.intent(state, holder: "w", expectedVersion: 0, rootHash: root, now: Self.t0)
                        }) != nil
                    }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(wins == 1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func platformsAndAnAppendOnlyAuditLog(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let platform = PlatformRecord(id: "p1", publicKeyDER: [1, 2], label: "host-a", addedAt: Self.t0)
            try await store.addPlatform(platform)
            #expect(try await store.platform(id: "p1") == platform)
            #expect(try await store.platform(id: "p2") == nil)
            for i in 0..<3 {
                try await store.appendAudit(AuditEvent(time: Self.t0, action: "release", outcome: "denied", reason: "r\(i)"))
            }
            #expect(try await store.auditEvents(limit: 2).map(\.reason) == ["r1", "r2"])
        }
    }

    @Test func auditLogRefusesUpdateAndDeleteInSQLite() async throws {
        try await withStore(.sqlite) { store, dir in
            try await store.appendAudit(AuditEvent(time: Self.t0, action: "x", outcome: "ok"))
            let status = runShell("/usr/bin/sqlite3 '\(dir)/keeper.sqlite' 'DELETE FROM audit;' 2>/dev/null")
            #expect(status != 0)
            #expect(try await store.auditEvents(limit: 10).count == 1)
        }
    }
}
