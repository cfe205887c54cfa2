import ArcaAttestation
import Prometheus

/// The keeper's Prometheus metrics, on a registry of its own (several keepers may share a process
/// in tests). Every label has a bounded set of values: route patterns, status classes, denial
/// reasons (an enum) and evidence kinds (known kinds, else `other`).
public final class KeeperMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private static let kinds: Set<String> = ["sim", "sgx", "tdx", "snp"]
    private static let routes: Set<String> = [
        "/v1/sessions", "/v1/sessions/**", "/v1/nonce", "/v1/release", "/v1/anchors/:operation",
        "/healthz", "/readyz", "/metrics",
    ]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    func request(route: String?, status: Int, duration: Duration) {
        let route = route.flatMap { Self.routes.contains($0) ? $0 : nil } ?? "other"
        let status = "\(status / 100)xx"
        registry.makeCounter(descriptor: Self.requests, labels: [("route", route), ("status", status)]).increment()
        registry.makeDurationHistogram(descriptor: Self.latency, labels: [("route", route)], buckets: Self.buckets).record(duration)
    }

    func denied(_ reason: Denial.Reason) {
        registry.makeCounter(descriptor: Self.denials, labels: [("reason", reason.rawValue)]).increment()
    }

    func released(_ kind: EvidenceKind) {
        let kind = Self.kinds.contains(kind.rawValue) ? kind.rawValue : "other"
        registry.makeCounter(descriptor: Self.releases, labels: [("kind", kind)]).increment()
    }

    /// Feeds a keeper event (denial or release) into the counters.
    public func observe(_ event: KeeperEvent) {
        switch event {
        case .denied(let reason): denied(reason)
        case .released(let kind): released(kind)
        }
    }

    public func exposition() -> String { registry.emitToString() }

    private static var requests: MetricNameDescriptor { MetricNameDescriptor(namespace: "arca", subsystem: "keeper", metricName: "requests",
                                                       unitName: "total", helpText: "HTTP requests by route and status class") }
    private static var latency: MetricNameDescriptor { MetricNameDescriptor(namespace: "arca", subsystem: "keeper", metricName: "request_duration",
                                                      unitName: "seconds", helpText: "HTTP request latency by route") }
    private static var denials: MetricNameDescriptor { MetricNameDescriptor(namespace: "arca", subsystem: "keeper", metricName: "denials",
                                                      unitName: "total", helpText: "Denied requests by reason") }
    private static var releases: MetricNameDescriptor { MetricNameDescriptor(namespace: "arca", subsystem: "keeper", metricName: "releases",
                                                       unitName: "total", helpText: "Key releases by evidence kind") }
    private static let buckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
    ]
}
