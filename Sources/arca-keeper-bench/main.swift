// arca-keeper-bench: attest-and-release round trips against a running keeper, from a separate process.
// Each of N threads runs full attestations (nonce, sim evidence, release, open the envelope) in a loop
// with `KeeperLink.attest`, a new TLS connection per attestation as arca-init makes (or, with
// --keep-alive, each thread's connection kept open between attestations). Prints attests/s,
// p50/p99/max latency and errors by reason. See bench/keeper.sh.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArcaAttestation
import ArcaCore
import ArcaKeeperAPI
import ArcaKeeperLink
import Crypto
import Synchronization

let usage = """
usage: arca-keeper-bench URL PIN SESSION MEASUREMENT_HEX PLATFORM_KEY_PEM
                         [--clients N] [--seconds S] [--rate R] [--keep-alive] [--service NAME] [--keeper-pid PID]
  --clients N     concurrent client threads (default 64)
  --seconds S     how long to run (default 10)
  --rate R        open-loop: start R attestations per second in total (default: closed loop, as fast as possible);
                  latency then counts from each attestation's scheduled start; slots not started by the
                  end are reported as backlog, not run
  --keep-alive    each client keeps its TLS connection open between attestations (every attestation
                  still has its own ephemeral key, nonce, evidence and release); default: a new
                  connection per attestation, as arca-init makes
  --keeper-pid P  sample the keeper's VmRSS every 10 s (stderr) and report first/last/peak
"""

func fail(_ message: String) -> Never {
    FileHandle.standardErrorWrite("arca-keeper-bench: \(message)\n")
    exit(2)
}

enum FileHandle {
    static func standardErrorWrite(_ s: String) {
        var s = s
        s.withUTF8 { buf in _ = write(2, buf.baseAddress, buf.count) }
    }
}

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

func sleep(until t: Double) {
    let d = t - now()
    if d > 0 { usleep(UInt32(min(d, 1.0) * 1e6)) }
    if t - now() > 0 { sleep(until: t) }
}

func vmRSS(pid: Int32, field: String) -> Int? {
    guard let f = fopen("/proc/\(pid)/status", "r") else { return nil }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 512)
    while fgets(&line, 512, f) != nil {
        let s = String(decoding: line.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if s.hasPrefix(field + ":") {
            return Int(s.dropFirst(field.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
        }
    }
    return nil
}

/// User + system CPU seconds of a process so far (/proc/PID/stat fields 14 and 15).
func cpuSeconds(pid: Int32) -> Double? {
    guard let f = fopen("/proc/\(pid)/stat", "r") else { return nil }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 1024)
    guard fgets(&line, 1024, f) != nil else { return nil }
    let s = String(decoding: line.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    guard let close = s.lastIndex(of: ")") else { return nil }
    let fields = s[s.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// This process's user + system CPU seconds so far.
func ownCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}

struct Config: Sendable {
    var keeper: KeeperAddress
    var pin: String
    var session: String
    var service: String
    var measurement: [UInt8]
    var provider: SimEvidenceProvider
    var rate: Double?
    var keepAlive: Bool
    var start: Double
    var end: Double
}

struct Results {
    var latencies: [Double] = []
    var errors: [String: Int] = [:]
    var firstError: [String: String] = [:]
}

final class Bench: Sendable {
    let config: Config
    let results = Mutex(Results())
    let nextSlot = Atomic<Int>(0)
    init(config: Config) { self.config = config }

    func worker() {
        let c = config
        var local: [Double] = []
        var errors: [String: Int] = [:]
        var firstError: [String: String] = [:]
        var attester: KeeperLinkAttester?
        if c.keepAlive {
            do { attester = try KeeperLinkAttester(keeper: c.keeper, pin: c.pin) } catch { fail("\(error)") }
        }
        sleep(until: c.start)
        while true {
            var t0 = now()
            if let rate = c.rate {
                let slot = nextSlot.wrappingAdd(1, ordering: .relaxed).oldValue
                let scheduled = c.start + Double(slot) / rate
                // Slots still waiting when the run ends are not started: a machine that cannot
                // keep up reports its backlog instead of working through it for minutes.
                if scheduled >= c.end || now() >= c.end { break }
                sleep(until: scheduled)
                t0 = scheduled
            } else if t0 >= c.end {
                break
            }
            do {
                if let attester {
                    _ = try attester.attest(session: c.session, service: c.service, measurement: c.measurement, evidenceProvider: c.provider)
                } else {
                    _ = try KeeperLink.attest(keeper: c.keeper, pin: c.pin, session: c.session, service: c.service,
                                              measurement: c.measurement, evidenceProvider: c.provider)
                }
                local.append(now() - t0)
            } catch {
                let (reason, text) = errorReason(error)
                errors[reason, default: 0] += 1
                if firstError[reason] == nil { firstError[reason] = text }
            }
        }
        results.withLock { r in
            r.latencies += local
            for (k, v) in errors { r.errors[k, default: 0] += v }
            for (k, v) in firstError where r.firstError[k] == nil { r.firstError[k] = v }
        }
    }
}

func errorReason(_ error: any Error) -> (String, String) {
    if let e = error as? ArcaError {
        if let r = e.keeperRefusal { return ("\(e.code)/\(r.status) \(r.reason)", "\(e)") }
        return ("\(e.code)", "\(e)")
    }
    return ("\(type(of: error))", "\(error)")
}

func parseNumber(_ flag: String, _ text: String) -> Double {
    guard let v = Double(text), v > 0 else { fail("\(flag) needs a positive number, not \(text)") }
    return v
}

func run() -> Int32 {
    var positional: [String] = []
    var clients = 64, seconds = 10.0, rate: Double? = nil, keepAlive = false, service = "main", keeperPID: Int32? = nil
    var args = Array(CommandLine.arguments.dropFirst())
    while !args.isEmpty {
        let a = args.removeFirst()
        if a == "-h" || a == "--help" { print(usage); return 0 }
        guard a.hasPrefix("--") else { positional.append(a); continue }
        if a == "--keep-alive" { keepAlive = true; continue }
        guard !args.isEmpty else { fail("\(a) needs a value\n\(usage)") }
        let v = args.removeFirst()
        switch a {
        case "--clients": clients = Int(parseNumber(a, v))
        case "--seconds": seconds = parseNumber(a, v)
        case "--rate": rate = parseNumber(a, v)
        case "--service": service = v
        case "--keeper-pid": keeperPID = Int32(parseNumber(a, v))
        default: fail("unknown option \(a)\n\(usage)")
        }
    }
    guard positional.count == 5 else { fail(usage) }
    guard let measurement = Hex.decode(positional[3]), measurement.count == 32 else { fail("measurement must be 64 hex digits") }
    let keeper: KeeperAddress
    let provider: SimEvidenceProvider
    do {
        keeper = try KeeperAddress(url: positional[0])
        provider = SimEvidenceProvider(producer: try SimEvidenceProducer(pemFile: positional[4]), measurement: measurement)
    } catch { fail("\(error)") }
    let start = now() + 0.2
    let bench = Bench(config: Config(keeper: keeper, pin: positional[1], session: positional[2], service: service,
                                     measurement: measurement, provider: provider, rate: rate, keepAlive: keepAlive,
                                     start: start, end: start + seconds))

    var threads: [pthread_t] = []
    for _ in 0..<clients {
        var thread = pthread_t()
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setstacksize(&attr, 1 << 20)
        let context = Unmanaged.passRetained(bench).toOpaque()
        let rc = pthread_create(&thread, &attr, { context in
            let bench = Unmanaged<Bench>.fromOpaque(context!).takeRetainedValue()
            bench.worker()
            return nil
        }, context)
        pthread_attr_destroy(&attr)
        if rc != 0 { fail("pthread_create: \(rc)") }
        threads.append(thread)
    }

    let keeperCPU0 = keeperPID.flatMap { cpuSeconds(pid: $0) }
    let ownCPU0 = ownCPUSeconds()
    // the keeper's RSS while the clients run
    var rssSamples: [Int] = []
    if let pid = keeperPID {
        if let v = vmRSS(pid: pid, field: "VmRSS") { rssSamples.append(v) }
        var next = start + 10
        while next < start + seconds {
            sleep(until: next)
            if let v = vmRSS(pid: pid, field: "VmRSS") {
                rssSamples.append(v)
                FileHandle.standardErrorWrite("t=\(Int(next - start))s keeper VmRSS \(v / 1024) MiB\n")
            }
            next += 10
        }
    }
    for t in threads { pthread_join(t, nil) }
    let elapsed = now() - start
    if let pid = keeperPID, let v = vmRSS(pid: pid, field: "VmRSS") { rssSamples.append(v) }
    let keeperCPU = keeperPID.flatMap { cpuSeconds(pid: $0) }.flatMap { end in keeperCPU0.map { end - $0 } }
    let ownCPU = ownCPUSeconds() - ownCPU0

    let r = bench.results.withLock { $0 }
    let sorted = r.latencies.sorted()
    func pct(_ p: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        return sorted[max(0, min(sorted.count - 1, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))]
    }
    func ms(_ s: Double) -> String { s.isNaN ? "nan" : "\((s * 10000).rounded() / 10)" }
    let errorCount = r.errors.values.reduce(0, +)
    let throughput = Double(sorted.count) / elapsed
    let mode = (rate.map { "open-loop \(Int($0))/s" } ?? "closed-loop") + (keepAlive ? " keep-alive" : " new-connection-each")
    print("clients \(clients) mode \(mode) seconds \((elapsed * 10).rounded() / 10)")
    if let rate {
        let scheduled = Int(rate * seconds)
        print("scheduled \(scheduled) started \(sorted.count + errorCount) backlog_not_started \(max(0, scheduled - sorted.count - errorCount))")
    }
    print("ok \(sorted.count) errors \(errorCount) attests/s \(Int(throughput.rounded())) p50_ms \(ms(pct(50))) p99_ms \(ms(pct(99))) max_ms \(ms(sorted.last ?? .nan))")
    for (reason, n) in r.errors.sorted(by: { $0.value > $1.value }) {
        print("error \(n)x \(reason): \(r.firstError[reason] ?? "")")
    }
    // CPU per attestation: steadier than throughput on a shared machine.
    let perAttest = { (cpu: Double) in sorted.isEmpty ? "nan" : "\((cpu / Double(sorted.count) * 1e5).rounded() / 100)" }
    print("cpu_ms_per_attest client \(perAttest(ownCPU))" + (keeperCPU.map { " keeper \(perAttest($0))" } ?? ""))
    if let first = rssSamples.first, let last = rssSamples.last, let peak = rssSamples.max() {
        print("keeper_rss_mib first \(first / 1024) last \(last / 1024) peak \(peak / 1024) samples \(rssSamples.count): \(rssSamples.map { "\($0 / 1024)" }.joined(separator: " "))")
    }
    return errorCount == 0 ? 0 : 1
}

exit(run())
