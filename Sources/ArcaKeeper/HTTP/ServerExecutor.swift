import NIOCore
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs Swift concurrency's global executor on NIO's event loops in the keeper's server process.
///
/// Hummingbird answers each request in a Swift task. With the default global executor that task
/// runs on another thread than the connection's event loop, so every request pays thread
/// hand-offs (a wake-up, a futex, a context switch) both ways; with NIO's singleton group as
/// the global executor, a task started on an event loop stays on it. Nothing in the keeper blocks
/// inside a task (the SQLite and PostgreSQL calls run on their own threads), which is what this
/// mode requires. Installed once per process, only by `KeeperService.run` (the `arca keeper serve`
/// process), never in a library user's or a test's process.
/// `ARCA_KEEPER_EXECUTOR=concurrency` keeps Swift's own pool (for comparisons).
enum ServerExecutor {
    private static let state = Mutex<Bool?>(nil)

    /// Installs the NIO executor if the environment does not opt out; true if it is in place.
    @discardableResult
    static func installUnlessDisabled() -> Bool {
        state.withLock { installed in
            if let installed { return installed }
            let disabled = getenv("ARCA_KEEPER_EXECUTOR").map { String(cString: $0) == "concurrency" } ?? false
            let result = !disabled && NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
            installed = result
            return result
        }
    }
}
