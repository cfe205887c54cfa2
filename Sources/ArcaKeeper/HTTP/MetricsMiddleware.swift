import Hummingbird

/// Counts requests by route pattern and status class and records their latency.
struct MetricsMiddleware: RouterMiddleware {
    let metrics: KeeperMetrics

    func handle(_ request: Request, context: KeeperContext,
                next: (Request, KeeperContext) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            metrics.request(route: context.endpointPath, status: Int(response.status.code), duration: ContinuousClock.now - start)
            return response
        } catch let error as any HTTPResponseError {
            metrics.request(route: context.endpointPath, status: Int(error.status.code), duration: ContinuousClock.now - start)
            throw error
        } catch {
            metrics.request(route: context.endpointPath, status: 500, duration: ContinuousClock.now - start)
            throw error
        }
    }
}
