import ArcaCore
import Crypto
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// The keeper master key: 32 random bytes in a 0600 file in the data directory. Session documents
/// (with every key and secret) are stored AES-256-GCM-sealed under it, so a copy of the database
/// alone reveals nothing. Replicas on one PostgreSQL share the same key file.
public struct KeeperMasterKey: Sendable {
    private let key: SymmetricKey
    private let anchorKey: SymmetricKey
    private static let format: UInt8 = 1

    public init(bytes: [UInt8]) throws {
        guard bytes.count == 32 else {
            throw ArcaError(.invalidFormat, "keeper master key is \(bytes.count) bytes, expected 32")
        }
        key = SymmetricKey(data: bytes)
        anchorKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Array("arca-anchor-token-v1".utf8), outputByteCount: 32)
    }

    /// Loads the key at `path`, creating it (0600) if absent; refuses a file others can read.
    public static func loadOrCreate(path: String) throws -> KeeperMasterKey {
        if !FileSystem.exists(path) {
            var bytes = [UInt8](repeating: 0, count: 32)
            bytes.withUnsafeMutableBytes { buffer in
                var rng = SystemRandomNumberGenerator()
                for i in buffer.indices { buffer[i] = rng.next() }
            }
            // Written aside, then hard-linked into place: link() never replaces, so two replicas
            // starting together on one data directory end up with the same key, never two.
            let temporary = "\(path).\(String(UInt64.random(in: .min ... .max), radix: 16)).new"
            try FileSystem.writeAtomically(bytes, to: temporary, permissions: [.ownerReadWrite])
            let linked = link(temporary, path)
            let error = errno
            unlink(temporary)
            guard linked == 0 || error == EEXIST else {
                throw ArcaError(.io, "cannot create keeper master key \(path) (errno \(error))")
            }
        }
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ArcaError(.io, "cannot stat keeper master key \(path)")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw ArcaError(.invalidArgument, "keeper master key \(path) has mode \(String(info.st_mode & 0o777, radix: 8)); it must be 0600 (chmod 600 it)")
        }
        return try KeeperMasterKey(bytes: FileSystem.readFile(path, limit: 64))
    }

    /// Seals a session document; the session name is authenticated so rows cannot be swapped.
    public func seal(_ plaintext: [UInt8], name: String) throws -> [UInt8] {
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: aad(name))
        guard let combined = box.combined else { throw ArcaError(.io, "aes-gcm produced no combined form") }
        return [Self.format] + Array(combined)
    }

    public func open(_ sealed: [UInt8], name: String) throws -> [UInt8] {
        guard sealed.first == Self.format, sealed.count > 29 else {
            throw ArcaError(.integrity, "sealed session \(name) has an unknown format")
        }
        do {
            return Array(try AES.GCM.open(AES.GCM.SealedBox(combined: sealed.dropFirst()), using: key, authenticating: aad(name)))
        } catch {
            throw ArcaError(.integrity, "sealed session \(name) does not decrypt under this keeper's master key")
        }
    }

    /// The capability a released runtime uses for a volume's anchor routes.
    public func anchorToken(session: String, volume: String) -> String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: Array((session + "\u{0}" + volume).utf8), using: anchorKey))
    }

    private func aad(_ name: String) -> [UInt8] { Array("arca-session-v1\u{0}\(name)".utf8) }
}
