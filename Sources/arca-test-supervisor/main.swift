// Test helper: supervises a command exactly as arca-init will (`arca-test-supervisor [--uid N --gid N]
// [--grace-ms N] [--stop-file PATH] -- COMMAND ARGS…`), so tests can check PID 1 duties in a child
// process of their own. Not shipped in any image.
import ArcaOS

#if canImport(Glibc)
import Glibc
#endif

/// Writes a line to standard error with write(2).
@Sendable func say(_ text: String) {
    let line = Array((text + "\n").utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

ServiceSupervisor.blockSignals()
var arguments = Array(CommandLine.arguments.dropFirst())
var identity: ServiceIdentity?
var graceMilliseconds = 2000
var stopFile: String?
while let first = arguments.first, first != "--" {
    arguments.removeFirst()
    guard let value = arguments.first else { break }
    arguments.removeFirst()
    switch first {
    case "--uid": identity = ServiceIdentity(uid: uid_t(value) ?? 65534, gid: identity?.gid ?? 65534)
    case "--gid": identity = ServiceIdentity(uid: identity?.uid ?? 65534, gid: gid_t(value) ?? 65534)
    case "--grace-ms": graceMilliseconds = Int(value) ?? 2000
    case "--stop-file": stopFile = value
    default: break
    }
}
arguments = Array(arguments.dropFirst())
guard let executable = arguments.first else {
    say("usage: arca-test-supervisor [options] -- COMMAND ARGS…")
    exit(2)
}
let watchedFile = stopFile
let supervisor = ServiceSupervisor(
    gracePeriod: .milliseconds(graceMilliseconds),
    failure: { watchedFile.flatMap { access($0, F_OK) == 0 ? "stop file \($0) appeared" : nil } },
    log: say)
do {
    let spec = ServiceSpec(executable: executable, arguments: arguments,
                           environment: ["PATH=/usr/bin:/bin"], identity: identity)
    exit(try supervisor.run(spec))
} catch {
    say("arca-test-supervisor: \(error)")
    exit(127)
}
