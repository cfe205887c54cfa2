import ArcaCore
import CBoringGCM
import Crypto

/// An AES-256-GCM key whose schedule is expanded once (BoringSSL's AEAD context, through
/// `CBoringGCM`), sealing and opening caller-owned memory, in place if asked: for hot paths that
/// open many chunks under one key (volume reads). CryptoKit's `AES.GCM` builds a context and
/// copies the ciphertext into a sealed box on every call; the bytes are the same (12-byte nonce,
/// 16-byte tag).
///
/// Immutable after creation, so safe to use from several threads.
public final class AESGCMKey: @unchecked Sendable {
    public static let nonceSize = 12
    public static let tagSize = 16

    private let context: OpaquePointer

    /// `key` must be 256 bits.
    public init(_ key: SymmetricKey) throws {
        guard key.bitCount == 256 else { throw ArcaError(.invalidArgument, "an AES-256-GCM key is 256 bits, not \(key.bitCount)") }
        guard let context = key.withUnsafeBytes({ arca_gcm_key_new($0.bindMemory(to: UInt8.self).baseAddress, $0.count) }) else {
            throw ArcaError(.io, "cannot set up an AES-256-GCM key")
        }
        self.context = context
    }

    deinit { arca_gcm_key_free(context) }

    /// Encrypts `plaintext` into `ciphertext` (the same size; may be the same memory) and writes
    /// the tag into `tag` (16 bytes).
    public func seal(_ plaintext: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, additionalData: UnsafeRawBufferPointer,
                     into ciphertext: UnsafeMutableRawBufferPointer, tag: UnsafeMutableRawBufferPointer) throws {
        precondition(nonce.count == Self.nonceSize && tag.count == Self.tagSize && ciphertext.count == plaintext.count,
                     "AES-GCM seal with buffers of the wrong size")
        guard arca_gcm_seal(context, Self.bytes(ciphertext), Self.bytes(tag), Self.bytes(nonce), Self.bytes(plaintext), plaintext.count,
                            Self.bytes(additionalData), additionalData.count) == 1 else {
            throw ArcaError(.io, "AES-GCM sealing failed")
        }
    }

    /// Checks `tag` (16 bytes) over `ciphertext` and `additionalData` and decrypts into
    /// `plaintext` (the same size; may be the same memory). False if not authentic: then
    /// `plaintext` is all zeros (BoringSSL decrypts before it compares the tag).
    public func open(_ ciphertext: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer,
                     additionalData: UnsafeRawBufferPointer, into plaintext: UnsafeMutableRawBufferPointer) -> Bool {
        precondition(nonce.count == Self.nonceSize && plaintext.count == ciphertext.count, "AES-GCM open with buffers of the wrong size")
        let authentic = tag.count == Self.tagSize
            && arca_gcm_open(context, Self.bytes(plaintext), Self.bytes(nonce), Self.bytes(ciphertext), ciphertext.count,
                             Self.bytes(tag), Self.bytes(additionalData), additionalData.count) == 1
        if !authentic { plaintext.initializeMemory(as: UInt8.self, repeating: 0) }
        return authentic
    }

    // An empty buffer's base address may be nil; BoringSSL wants a pointer even for length 0
    // (nothing is ever written to it: a length of 0 writes nothing).
    nonisolated(unsafe) private static let empty = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)

    private static func bytes(_ buffer: UnsafeRawBufferPointer) -> UnsafePointer<UInt8> {
        buffer.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) } ?? UnsafePointer(empty)
    }

    private static func bytes(_ buffer: UnsafeMutableRawBufferPointer) -> UnsafeMutablePointer<UInt8> {
        buffer.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) } ?? empty
    }
}
