#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A point on the monotonic clock. Every wait of one request is bounded by the request's
/// deadline, so a server that trickles bytes cannot hold the runtime longer than that.
struct Deadline: Sendable {
    private let nanoseconds: UInt64

    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    init(secondsFromNow seconds: Double) {
        nanoseconds = Self.now() + UInt64(max(0, seconds) * 1e9)
    }

    /// Milliseconds left, at most `cap` seconds, for `poll` (0 once passed).
    func pollTimeout(cap seconds: Double) -> Int32 {
        let now = Self.now()
        let left = nanoseconds > now ? (nanoseconds - now) / 1_000_000 : 0
        return Int32(min(left, UInt64(max(0, seconds) * 1000)))
    }

    var hasPassed: Bool { Self.now() >= nanoseconds }
}
