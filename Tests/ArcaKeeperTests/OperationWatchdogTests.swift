import ArcaCore
@testable import ArcaKeeper
import Foundation
import Logging
import Testing

/// Store operations are bounded by one sweeper, not a timer each.
@Suite struct OperationWatchdogTests {
    @Test func aQuickOperationReturnsItsValue() async throws {
        let watchdog = OperationWatchdog(interval: .milliseconds(20))
        let sweeper = Task { await watchdog.runSweeper() }
        defer { sweeper.cancel() }
        let value = try await watchdog.run(timeout: .seconds(5)) { 42 }
        #expect(value == 42)
        // An optional result stays distinguishable from a timeout.
        let none: Int?? = try await watchdog.run(timeout: .seconds(5)) { Int?.none }
        #expect(none == .some(nil))
    }

    @Test func anOverdueOperationIsCancelledAtTheNextSweep() async throws {
        let watchdog = OperationWatchdog(interval: .milliseconds(20))
        let sweeper = Task { await watchdog.runSweeper() }
        defer { sweeper.cancel() }
        let start = ContinuousClock.now
        let result = try await watchdog.run(timeout: .milliseconds(100)) { () -> Int in
            try await Task.sleep(for: .seconds(30))
            return 1
        }
        #expect(result == nil)
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test func theCallersCancellationReachesTheOperationAndIsNoTimeout() async throws {
        let watchdog = OperationWatchdog(interval: .seconds(60))
        let caller = Task {
            try await watchdog.run(timeout: .seconds(60)) { () -> Int in
                try await Task.sleep(for: .seconds(30))
                return 1
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        caller.cancel()
        await #expect(throws: CancellationError.self) { _ = try await caller.value }
    }

    /// With PostgreSQL unreachable, a store call fails after its timeout instead of hanging.
    @Test func anUnreachableDatabaseFailsTheOperation() async throws {
        let store = try PostgresStore(url: "postgres://postgres@127.0.0.1:1/postgres", logger: Logger(label: "test"),
                                      operationTimeout: .milliseconds(300))
        let service = Task { try await store.run() }
        defer { service.cancel() }
        let start = ContinuousClock.now
        let error = await #expect(throws: ArcaError.self) { _ = try await store.session(named: "shop/api") }
        #expect(error?.message.contains("did not finish within") == true)
        #expect(ContinuousClock.now - start < .seconds(10))
    }
}
