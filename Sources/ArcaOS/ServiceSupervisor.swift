import ArcaCore
import CArcaShim

#if canImport(Glibc)
import Glibc
#endif

/// What the service runs as.
public struct ServiceIdentity: Sendable, Equatable {
    public var uid: uid_t
    public var gid: gid_t
    public var groups: [gid_t]

    public init(uid: uid_t, gid: gid_t, groups: [gid_t] = []) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }
}

/// The service to start.
public struct ServiceSpec: Sendable {
    public var executable: String
    /// argv, including argv[0].
    public var arguments: [String]
    public var environment: [String]
    public var workingDirectory: String?
    /// nil keeps the current uid/gid.
    public var identity: ServiceIdentity?
    public var noNewPrivileges: Bool
    public var dropSysAdmin: Bool

    public init(executable: String, arguments: [String], environment: [String], workingDirectory: String? = nil,
                identity: ServiceIdentity? = nil, noNewPrivileges: Bool = true, dropSysAdmin: Bool = true) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.identity = identity
        self.noNewPrivileges = noNewPrivileges
        self.dropSysAdmin = dropSysAdmin
    }
}

/// PID 1's duties (as containerization's vminitd and tini do them): signals are blocked and taken
/// with `sigtimedwait`, forwarded to the service, zombies are reaped, and the exit status is the
/// service's (128+n for signal n). SIGTERM starts a grace period after which the service gets
/// SIGKILL. Not PID 1, it registers as a child subreaper so orphans still come to it.
///
/// `blockSignals()` must run before any other thread exists (FUSE threads inherit the mask), so
/// that no signal reaches a thread that would take its default action.
public struct ServiceSupervisor {
    public var gracePeriod: Duration
    /// Polled between signals: when it returns a reason, the service is stopped (fail closed).
    public var failure: @Sendable () -> String?
    public var log: @Sendable (String) -> Void

    public init(gracePeriod: Duration = .seconds(10), failure: @escaping @Sendable () -> String? = { nil },
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.gracePeriod = gracePeriod
        self.failure = failure
        self.log = log
    }

    /// Blocks every signal in the calling thread (and so in threads created after it).
    public static func blockSignals() {
        var all = sigset_t()
        sigfillset(&all)
        sigprocmask(SIG_BLOCK, &all, nil)
    }

    /// Starts the service and supervises it until it exits; returns its exit status.
    public func run(_ spec: ServiceSpec) throws -> Int32 {
        if getpid() != 1 {
            let result = arca_set_child_subreaper()
            if result != 0 { log("arca-init: cannot become a child subreaper (errno \(-result)); orphans go to PID 1") }
        }
        let child = try spawn(spec)
        log("arca-init: started \(spec.executable) as pid \(child)")
        return supervise(child)
    }

    private func spawn(_ spec: ServiceSpec) throws -> pid_t {
        let pid = withCStrings(spec.arguments) { argv in
            withCStrings(spec.environment) { envp in
                let groups = spec.identity?.groups ?? []
                return groups.withUnsafeBufferPointer { groupBuffer in
                    var identity = arca_spawn_identity(
                        uid: spec.identity?.uid ?? 0, gid: spec.identity?.gid ?? 0, groups: groupBuffer.baseAddress,
                        group_count: Int32(groups.count), set_identity: spec.identity == nil ? 0 : 1,
                        no_new_privs: spec.noNewPrivileges ? 1 : 0, drop_sys_admin: spec.dropSysAdmin ? 1 : 0)
                    return arca_spawn(spec.executable, argv, envp, spec.workingDirectory, &identity)
                }
            }
        }
        guard pid > 0 else {
            throw ArcaError(.io, "cannot start \(spec.executable): \(String(cString: strerror(-pid)))")
        }
        return pid
    }

    private func supervise(_ child: pid_t) -> Int32 {
        var watched = sigset_t()
        sigfillset(&watched)
        var deadline: ContinuousClock.Instant?
        while true {
            if let status = reap(child) {
                stopOrphans()
                return status
            }
            if deadline == nil, let reason = failure() {
                log("arca-init: stopping the service: \(reason)")
                kill(child, SIGTERM)
                deadline = .now + gracePeriod
            }
            if let due = deadline, ContinuousClock.now >= due {
                log("arca-init: the service did not stop within the grace period; sending SIGKILL")
                kill(child, SIGKILL)
                deadline = .now + .seconds(3600)
            }
            var timeout = timespec(tv_sec: 0, tv_nsec: 200_000_000)
            let signal = sigtimedwait(&watched, nil, &timeout)
            guard signal > 0, signal != SIGCHLD else { continue }
            kill(child, signal)
            if signal == SIGTERM || signal == SIGINT, deadline == nil {
                deadline = .now + gracePeriod
            }
        }
    }

    /// Reaps every exited child; returns the service's status once it has exited.
    private func reap(_ child: pid_t) -> Int32? {
        var serviceStatus: Int32?
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { return serviceStatus }
            if pid == child { serviceStatus = Self.exitCode(status) }
        }
    }

    /// After the service exited, orphans it left (reparented to us) are killed and reaped, so the
    /// container ends with nothing of the service still running.
    private func stopOrphans() {
        for _ in 0..<10 {
            let orphans = Self.children()
            if orphans.isEmpty { return }
            for pid in orphans { kill(pid, SIGKILL) }
            var status: Int32 = 0
            for pid in orphans { _ = waitpid(pid, &status, 0) }
        }
    }

    /// Our direct children, from /proc/self/task/*/children.
    static func children() -> [pid_t] {
        guard let tasks = try? FileSystem.listDirectory("/proc/self/task") else { return [] }
        return tasks.flatMap { task -> [pid_t] in
            guard let bytes = try? FileSystem.readFile("/proc/self/task/\(task)/children", limit: 1 << 20) else { return [] }
            return String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { pid_t($0) }
        }
    }

    /// The shell's convention: the exit code, or 128 + the signal number.
    static func exitCode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}

/// Calls `body` with a NULL-terminated C string array.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
