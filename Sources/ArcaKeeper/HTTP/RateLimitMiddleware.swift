import FoundationEssentials
import Hummingbird
import Synchronization

/// Per-client token buckets (by client key, else by IP): `burst` requests at once, refilled at
/// `perSecond`. Over the limit the answer is 429 with reason `rate-limited`. The table is bounded:
/// when it grows past `maximumClients` the full buckets (idle clients) are dropped.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Double
    }

    let burst: Double
    let perSecond: Double
    private let maximumClients = 10_000
    private let buckets = Mutex<[String: Bucket]>([:])
    private let clock: @Sendable () -> Date

    init(burst: Int, perSecond: Double, clock: @escaping @Sendable () -> Date) {
        self.burst = Double(burst)
        self.perSecond = perSecond
        self.clock = clock
    }

    /// Takes one token for `client`; false when the bucket is empty.
    func allow(_ client: String) -> Bool {
        let now = clock().timeIntervalSince1970
        return buckets.withLock { table in
            if table.count > maximumClients {
                table = table.filter { min(burst, $0.value.tokens + (now - $0.value.updated) * perSecond) < burst }
            }
            var bucket = table[client] ?? Bucket(tokens: burst, updated: now)
            bucket.tokens = min(burst, bucket.tokens + max(0, now - bucket.updated) * perSecond)
            bucket.updated = now
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            table[client] = bucket
            return allowed
        }
    }
}

struct RateLimitMiddleware: RouterMiddleware {
    let limiter: RateLimiter
    let metrics: KeeperMetrics

    func handle(_ request: Request, context: KeeperContext,
                next: (Request, KeeperContext) async throws -> Response) async throws -> Response {
        // Probes and scrapes are exempt: a load balancer must always reach them.
        let path = request.uri.path
        if path == "/healthz" || path == "/readyz" || path == "/metrics" {
            return try await next(request, context)
        }
        guard limiter.allow(context.clientLabel) else {
            metrics.denied(.rateLimited)
            throw Denial(429, .rateLimited, "too many requests from this client; retry later")
        }
        return try await next(request, context)
    }
}
