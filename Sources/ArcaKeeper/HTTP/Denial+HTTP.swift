import ArcaKeeperAPI
import FoundationEssentials
import Hummingbird

extension Denial: HTTPResponseError {
    public var status: HTTPResponse.Status { HTTPResponse.Status(code: httpStatus) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = try JSONEncoder().encode(KeeperErrorResponse(reason: reason.rawValue, message: message))
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if reason == .rateLimited { headers[.retryAfter] = "1" }
        return Response(status: HTTPResponse.Status(code: httpStatus), headers: headers,
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}
