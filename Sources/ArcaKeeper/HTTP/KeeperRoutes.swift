import ArcaCore
import ArcaKeeperAPI
import FoundationEssentials
import Hummingbird

/// The keeper's HTTP routes: thin JSON adapters over `Keeper`.
struct KeeperRoutes {
    let keeper: Keeper
    let metrics: KeeperMetrics

    func register(on router: Router<KeeperContext>) {
        router.get("/healthz") { _, _ in Self.text("ok\n") }
        router.get("/readyz") { _, _ in
            // A database that does not answer within 2 s is as bad as one that refuses.
            let ready = await withTaskGroup(of: Bool.self) { group in
                group.addTask { (try? await keeper.store.auditEvents(limit: 1)) != nil }
                group.addTask {
                    try? await Task.sleep(for: .seconds(2))
                    return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            return ready ? Self.text("ready\n") : Self.text("store unreachable\n", status: .serviceUnavailable)
        }
        router.get("/metrics") { _, _ in Self.text(metrics.exposition(), contentType: "text/plain; version=0.0.4") }

        let v1 = router.group("v1")
        v1.post("sessions") { request, context in
            let body = try await decode(SessionWriteRequest.self, request, context, action: "session.create")
            return try Self.json(try await keeper.createSession(document: body.document, client: context.clientKeyID), status: .created)
        }
        v1.get("sessions") { _, context in
            try Self.json(try await keeper.listSessions(client: context.clientKeyID))
        }
        v1.get("sessions/**") { _, context in
            try Self.json(try await keeper.showSession(name: Self.name(context), client: context.clientKeyID))
        }
        v1.put("sessions/**") { request, context in
            let body = try await decode(SessionWriteRequest.self, request, context, action: "session.update")
            return try Self.json(try await keeper.updateSession(name: Self.name(context), document: body.document,
                                                                client: context.clientKeyID))
        }
        v1.delete("sessions/**") { _, context in
            try await keeper.deleteSession(name: Self.name(context), client: context.clientKeyID)
            return Response(status: .noContent)
        }
        v1.post("nonce") { request, context in
            let body = try await decode(NonceRequest.self, request, context, action: "nonce")
            return try Self.json(try await keeper.issueNonce(body, client: context.clientKeyID ?? context.clientLabel))
        }
        v1.post("release") { request, context in
            let body = try await decode(ReleaseRequest.self, request, context, action: "release")
            return try Self.json(try await keeper.release(body, client: context.clientKeyID ?? context.clientLabel))
        }
        v1.post("anchors/:operation") { request, context in
            let operation = context.parameters.get("operation") ?? ""
            let body = try await decode(AnchorRequest.self, request, context, action: "anchor.\(operation)")
            return try Self.json(try await keeper.anchor(operation, body, client: context.clientKeyID))
        }
    }

    /// Reads a bounded JSON body; too large or malformed bodies are denied (and audited).
    private func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: KeeperContext, action: String) async throws -> T {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: KeeperAPI.maximumBodySize)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw await keeper.deny(Denial(413, .bodyTooLarge, "request body is over the \(KeeperAPI.maximumBodySize) byte limit"),
                                    action: action, client: context.clientLabel)
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: buffer))
        } catch {
            throw await keeper.deny(Denial(400, .malformedRequest, "request body is not the expected json object"),
                                    action: action, client: context.clientLabel)
        }
    }

    private static func name(_ context: KeeperContext) -> String {
        context.parameters.getCatchAll().joined(separator: "/")
    }

    private static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    private static func text(_ text: String, status: HTTPResponse.Status = .ok, contentType: String = "text/plain") -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
