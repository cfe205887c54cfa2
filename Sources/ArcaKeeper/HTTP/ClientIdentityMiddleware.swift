import ArcaCore
import Hummingbird
import NIOCore
import NIOSSL

/// Finds the TLS client certificate (optional at the handshake) and records its key ID.
/// The TLS 1.3 handshake already proved the client holds the private key.
struct ClientIdentityMiddleware: RouterMiddleware {
    func handle(_ request: Request, context: KeeperContext,
                next: (Request, KeeperContext) async throws -> Response) async throws -> Response {
        var context = context
        if let certificate = try? await context.channel.nioSSL_peerCertificate().get(),
           let spki = try? certificate.extractPublicKey().toSPKIBytes() {
            context.clientKeyID = sha256Hex(spki)
        }
        return try await next(request, context)
    }
}
