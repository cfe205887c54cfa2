import ArcaCore
@testable import ArcaKeeper
import ArcaTestSupport
import Foundation
import Synchronization
import Testing

/// What the SQLite store keeps in memory because one keeper process owns its file: the nonce set,
/// the session and platform row caches, the group-committed audit lines, and the lock that makes
/// the ownership true.
@Suite struct SQLiteOwnershipTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func stored(_ name: String, hash: String, sealed: [UInt8]) -> StoredSession {
        StoredSession(name: name, owner: "owner", version: "1", hash: hash, sealed: sealed, createdAt: Self.t0, updatedAt: Self.t0)
    }

    func nonce(_ value: String, session: String = "s") -> NonceRecord {
        NonceRecord(nonce: value, session: session, service: "w", expiresAt: Self.t0.addingTimeInterval(60))
    }

    @Test func aSecondServeLockOnOneDirectoryIsRefusedUntilTheFirstIsReleased() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            var first: ServeLock? = try ServeLock(directory: dir)
            let error = #expect(throws: ArcaError.self) { _ = try ServeLock(directory: dir) }
            #expect(error?.code == .alreadyExists)
            #expect(error?.message.contains("postgres") == true)
            withExtendedLifetime(first) {}
            first = nil
            _ = try ServeLock(directory: dir)
            let mode = try FileManager.default.attributesOfItem(atPath: dir + "/serve.lock")[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
    }

    @Test func theNonceSetRedeemsOnceRefusesDuplicatesAndStopsAtItsCapacity() async throws {
        let set = MemoryNonceSet(capacity: 3)
        try set.insert(nonce("a"))
        #expect(throws: ArcaError.self) { try set.insert(nonce("a")) }
        try set.insert(nonce("b", session: "other"))
        try set.insert(nonce("c"))
        let full = #expect(throws: ArcaError.self) { try set.insert(nonce("d")) }
        #expect(full?.code == .limitExceeded)
        // Many concurrent redemptions of one nonce: exactly one wins.
        let winners = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<32 { group.addTask { set.redeem("a") != nil } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(winners == 1)
        set.removeAll(session: "other")
        #expect(set.redeem("b") == nil)
        set.purge(expiredBefore: Self.t0.addingTimeInterval(61))
        #expect(set.count == 0)
    }

    /// The attestation path reads sessions through the cache: an update, a delete and a re-create
    /// made through the store are seen at once, never the old row.
    @Test func theSessionCacheFollowsEveryWrite() async throws {
        try await withStore(.sqlite) { store, _ in
            let check: @Sendable (StoredSession?) throws -> Void = { _ in }
            func read(_ value: String) async throws -> StoredSession? {
                try await store.insertNonce(nonce(value, session: "shop/api"), checkingSession: check)
                return try await store.redeemNonce(value, readingSession: "shop/api", platform: nil).session
            }
            #expect(try await read("n0") == nil)   // absent rows are not cached
            try await store.createSession(stored("shop/api", hash: "h1", sealed: [1]))
            #expect(try await read("n1")?.hash == "h1")
            #expect(try await read("n2")?.hash == "h1")   // a hit
            #expect(try await store.updateSession(stored("shop/api", hash: "h2", sealed: [2]), predecessor: "h1"))
            #expect(try await read("n3")?.hash == "h2")
            // A refused compare-and-swap changes nothing.
            #expect(try await !store.updateSession(stored("shop/api", hash: "h3", sealed: [3]), predecessor: "h1"))
            #expect(try await read("n4")?.sealed == [2])
            #expect(try await store.deleteSession(named: "shop/api"))
            #expect(try await read("n5") == nil)
            try await store.createSession(stored("shop/api", hash: "h2", sealed: [9]))
            #expect(try await read("n6")?.sealed == [9])
        }
    }

    @Test func platformsAddedAfterAMissAreFound() async throws {
        try await withStore(.sqlite) { store, _ in
            let runtime = SimRuntime()
            let id = runtime.platformRecord.id
            try await store.insertNonce(nonce("n1"))
            #expect(try await store.redeemNonce("n1", readingSession: "s", platform: id).platform == nil)
            try await store.addPlatform(runtime.platformRecord)
            try await store.insertNonce(nonce("n2"))
            #expect(try await store.redeemNonce("n2", readingSession: "s", platform: id).platform == runtime.platformRecord)
        }
    }

    @Test func concurrentAuditLinesAreAllCommittedInOrderOfArrivalPerCaller() async throws {
        try await withStore(.sqlite) { store, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<300 {
                    group.addTask {
                        try await store.appendAudit(AuditEvent(time: Self.t0, action: "release", outcome: "ok", session: "s\(i)"))
                    }
                }
                try await group.waitForAll()
            }
            let events = try await store.auditEvents(limit: 1000)
            #expect(events.count == 300)
            #expect(Set(events.map(\.session)).count == 300)
        }
    }

    @Test func aFailedAuditCommitFailsItsCallersAndTheNextBatchStillCommits() async throws {
        let fail = Mutex(true)
        let committed = Mutex<[String]>([])
        let batcher = AuditBatcher { events in
            if fail.withLock({ $0 }) { throw ArcaError(.io, "disk full") }
            committed.withLock { $0 += events.map(\.session) }
        }
        let error = await #expect(throws: ArcaError.self) {
            try await batcher.append(AuditEvent(time: Self.t0, action: "release", outcome: "ok", session: "lost"))
        }
        #expect(error?.message == "disk full")
        fail.withLock { $0 = false }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<50 {
                group.addTask { try await batcher.append(AuditEvent(time: Self.t0, action: "release", outcome: "ok", session: "s\(i)")) }
            }
            try await group.waitForAll()
        }
        #expect(committed.withLock { $0.count } == 50)
        #expect(!committed.withLock { $0.contains("lost") })
    }
}
