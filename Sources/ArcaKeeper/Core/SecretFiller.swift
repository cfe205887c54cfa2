import ArcaCore
import ArcaSession
import FoundationEssentials

/// Fills in what the keeper generates: `ascii`/`binary` secrets without a value and volume keys.
/// On update a generated value survives when the secret keeps its name, kind and size (so a policy
/// change does not rotate a database password by accident).
enum SecretFiller {
    static func fill(_ session: Session, previous: Session?) throws -> Session {
        var result = session
        var rng = SystemRandomNumberGenerator()
        for index in result.secrets.indices where result.secrets[index].value == nil {
            let secret = result.secrets[index]
            if let old = previous?.secrets.first(where: { $0.name == secret.name && $0.kind == secret.kind && $0.size == secret.size }),
               let value = old.value {
                result.secrets[index].value = value
                continue
            }
            let size = secret.size ?? 32
            switch secret.kind {
            case .ascii:
                // Printable, shell- and URL-safe characters.
                let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
                result.secrets[index].value = String((0..<size).map { _ in alphabet[Int(rng.next(upperBound: UInt(alphabet.count)))] })
            case .binary:
                result.secrets[index].value = Data((0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }).base64EncodedString()
            case .given:
                throw ArcaError(.invalidArgument, "secret \(secret.name) is of kind given but has no value")
            }
        }
        for index in result.volumes.indices where result.volumes[index].key == nil {
            let volume = result.volumes[index]
            if let old = previous?.volumes.first(where: { $0.name == volume.name })?.key {
                result.volumes[index].key = old
            } else {
                result.volumes[index].key = Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })
            }
        }
        return result
    }
}
