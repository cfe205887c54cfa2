import ArcaCore
import CFuse
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// libfuse's session pointer. Sendable because after mounting it is used by the loop thread,
/// and by other threads only once that loop has ended (unmount, destroy).
private struct SessionPointer: @unchecked Sendable {
    let raw: OpaquePointer
}

/// One mounted FUSE file system, served in the background by libfuse's multi-threaded loop.
///
/// `mount` mounts and starts serving; `unmount` detaches the mount, waits for the loop to end,
/// and aborts the connection if it does not (so a stuck client cannot hold the caller).
public final class FUSEMount: Sendable {
    /// The mountpoint, with symlinks resolved.
    public let mountpoint: String
    /// The kernel connection, for `abort`.
    public let connection: FUSEConnection
    private let session: SessionPointer
    private let context: SessionContext
    private let state = Mutex(State())

    private struct State {
        var stopped = false
        var loopResult: Int32 = 0
        var destroyed = false
        var readAheadApplied = false
    }

    private init(mountpoint: String, connection: FUSEConnection, session: SessionPointer, context: SessionContext) {
        self.mountpoint = mountpoint
        self.connection = connection
        self.session = session
        self.context = context
    }

    /// Mounts `operations` at `mountpoint` (an existing directory) and starts serving it on a
    /// background thread. Needs `/dev/fuse` and CAP_SYS_ADMIN (or fusermount3).
    public static func mount(_ operations: any FileSystemOperations, at mountpoint: String,
                             options: MountOptions = MountOptions()) throws -> FUSEMount {
        for (what, value) in [("name", options.name), ("subtype", options.subtype)] where value.isEmpty || value.contains(",") {
            throw ArcaError(.invalidArgument, "fuse mount \(what) \"\(value)\" must be non-empty and without commas")
        }
        guard let resolved = realpath(mountpoint, nil) else { throw systemError("resolve the mountpoint", mountpoint) }
        let path = String(cString: resolved)
        free(resolved)

        let context = SessionContext(operations: operations, options: options)
        var table = LowLevelOperations.table(writable: operations is any WritableFileSystemOperations)
        let arguments: [UnsafeMutablePointer<CChar>?] = ["arca-fuse", "-o", options.optionString].map { (argument: String) in strdup(argument) }
        defer { arguments.forEach { free($0) } }
        var argv = arguments
        let created = argv.withUnsafeMutableBufferPointer { argvBuffer -> OpaquePointer? in
            var args = fuse_args(argc: Int32(argvBuffer.count), argv: argvBuffer.baseAddress, allocated: 0)
            defer { fuse_opt_free_args(&args) }  // frees only what libfuse itself allocated
            return fuse_session_new(&args, &table, MemoryLayout<fuse_lowlevel_ops>.size,
                                    Unmanaged.passUnretained(context).toOpaque())
        }
        guard let created else {
            throw ArcaError(.invalidArgument, "libfuse refused the mount options \(options.optionString)")
        }
        guard fuse_session_mount(created, path) == 0 else {
            fuse_session_destroy(created)
            throw ArcaError(.io, "cannot mount fuse at \(path): /dev/fuse and CAP_SYS_ADMIN are needed (for a container: --device /dev/fuse --cap-add SYS_ADMIN)")
        }
        let connection: FUSEConnection
        do {
            connection = try FUSEConnection.find(mountpoint: path)
        } catch {
            fuse_session_unmount(created)
            fuse_session_destroy(created)
            throw error
        }
        let mount = FUSEMount(mountpoint: path, connection: connection, session: SessionPointer(raw: created), context: context)
        try mount.startLoop()
        if options.readAhead > 0 {
            // The kernel holds every request until it has processed the INIT reply, and statfs
            // always asks: once it returns, a larger window sticks.
            var stats = statvfs()
            if statvfs(path, &stats) == 0, connection.setReadAhead(bytes: options.readAhead) {
                mount.state.withLock { $0.readAheadApplied = true }
            }
        }
        return mount
    }

    private func startLoop() throws {
        var thread = pthread_t()
        let box = Unmanaged.passRetained(self)  // the loop thread owns one reference until it ends
        let result = pthread_create(&thread, nil, { raw in
            let mount = Unmanaged<FUSEMount>.fromOpaque(raw!).takeRetainedValue()
            mount.runLoop()
            return nil
        }, box.toOpaque())
        guard result == 0 else {
            box.release()
            try? connection.abort()
            fuse_session_unmount(session.raw)
            fuse_session_destroy(session.raw)
            state.withLock { $0.stopped = true; $0.destroyed = true }
            throw systemError("start the fuse loop thread for", mountpoint, result)
        }
        pthread_detach(thread)
    }

    private func runLoop() {
        var config = fuse_loop_config(clone_fd: 0, max_idle_threads: context.options.idleThreads)
        let result = fuse_session_loop_mt_32(session.raw, &config)
        state.withLock {
            $0.stopped = true
            $0.loopResult = result
        }
    }

    /// Whether `MountOptions.readAhead` was set (false without it, or without a writable sysfs).
    public var readAheadApplied: Bool { state.withLock { $0.readAheadApplied } }

    /// True once the serving loop has ended (unmounted or aborted).
    public var isStopped: Bool { state.withLock { $0.stopped } }

    /// Waits until the loop ends, up to `timeout` seconds (forever when nil); true if it ended.
    @discardableResult
    public func waitUntilStopped(timeout: Double? = nil) -> Bool {
        let deadline = timeout.map { monotonicSeconds() + $0 }
        while !isStopped {
            if let deadline, monotonicSeconds() >= deadline { return false }
            usleep(2_000)
        }
        return true
    }

    /// Aborts the connection: every pending and later request fails, the loop ends. For a mount
    /// whose clients or server are stuck; never blocks on the file system.
    public func abort() throws {
        try connection.abort()
    }

    /// Detaches the mount (lazily: open files keep working until closed), waits up to `timeout`
    /// seconds for the loop to end, aborts the connection if it has not, and frees the session.
    /// Throws only when even the abort did not stop the loop (the session is then left alone).
    public func unmount(timeout: Double = 10) throws {
        if !isStopped {
            // MNT_DETACH: never waits for busy files; the connection ends with the last user.
            if umount2(mountpoint, Int32(MNT_DETACH)) != 0, errno != EINVAL, errno != ENOENT {
                let failure = systemError("unmount", mountpoint)
                try? abort()
                _ = waitUntilStopped(timeout: timeout)
                destroyIfStopped()
                throw failure
            }
            if !waitUntilStopped(timeout: timeout) {
                try abort()
                _ = waitUntilStopped(timeout: timeout)
            }
        }
        guard destroyIfStopped() else {
            throw ArcaError(.io, "the fuse session at \(mountpoint) did not stop within \(timeout) s of its abort")
        }
    }

    /// Frees the session once the loop has ended (exactly once). False while it still runs.
    @discardableResult
    private func destroyIfStopped() -> Bool {
        let destroy = state.withLock { state -> Bool in
            guard state.stopped else { return false }
            defer { state.destroyed = true }
            return !state.destroyed
        }
        if destroy {
            // The loop ended because the connection is gone: this only closes /dev/fuse (libfuse
            // sees POLLERR and skips its own unmount), then frees the session.
            fuse_session_unmount(session.raw)
            fuse_session_destroy(session.raw)
        }
        return isStopped
    }

    deinit {
        // Only reached after the loop thread let go of its reference, so the loop has ended.
        destroyIfStopped()
    }
}

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
