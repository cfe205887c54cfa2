import ArcaCore
import Crypto

/// A 32-byte value (a SHA-256 digest, an HMAC, an identifier), stored inline without allocation.
public struct Hash256: Hashable, Sendable, CustomStringConvertible {
    /// The 32 bytes as four big-endian words, so a table of millions of chunk digests stays compact.
    private var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    /// The all-zero value (used for "no stream").
    public static let zero = Hash256(w0: 0, w1: 0, w2: 0, w3: 0)

    private init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        (self.w0, self.w1, self.w2, self.w3) = (w0, w1, w2, w3)
    }

    /// Reads 32 bytes; `bytes.count` must be 32.
    public init(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == 32, "Hash256 needs 32 bytes")
        func word(_ at: Int) -> UInt64 {
            var value: UInt64 = 0
            for i in 0..<8 { value = value << 8 | UInt64(bytes[at + i]) }
            return value
        }
        self.init(w0: word(0), w1: word(8), w2: word(16), w3: word(24))
    }

    /// Reads 32 bytes, or returns nil for any other length.
    public init?(_ bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self = bytes.withUnsafeBytes { Hash256(bytes: $0) }
    }

    /// Parses 64 hex digits.
    public init?(hex: String) {
        guard let bytes = Hex.decode(hex) else { return nil }
        self.init(bytes)
    }

    /// The digest of a SHA-256 computation.
    public init(_ digest: SHA256.Digest) {
        self = digest.withUnsafeBytes { Hash256(bytes: $0) }
    }

    /// The value of an HMAC-SHA256 computation.
    public init(_ code: HMAC<SHA256>.MAC) {
        self = code.withUnsafeBytes { Hash256(bytes: $0) }
    }

    /// The 32 bytes, in order.
    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(32)
        for word in [w0, w1, w2, w3] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return out
    }

    /// Lowercase hex of the 32 bytes.
    public var hex: String { Hex.encode(bytes) }

    public var description: String { hex }

    /// Compares in constant time (for secrets and tags; `==` may return early).
    public func constantTimeEquals(_ other: Hash256) -> Bool {
        ((w0 ^ other.w0) | (w1 ^ other.w1) | (w2 ^ other.w2) | (w3 ^ other.w3)) == 0
    }
}
