import Crypto

/// SHA-256 of chunks: the per-chunk digests of authenticated files and the stream commitments.
public enum ChunkHasher {
    /// The SHA-256 of `bytes`.
    public static func digest(_ bytes: UnsafeRawBufferPointer) -> Hash256 {
        var hasher = SHA256()
        hasher.update(bufferPointer: bytes)
        return Hash256(hasher.finalize())
    }

    /// The SHA-256 of `bytes`.
    public static func digest(_ bytes: [UInt8]) -> Hash256 {
        bytes.withUnsafeBytes { digest($0) }
    }

    /// The SHA-256 of `bytes` followed by `padding` zero bytes, without materializing the zeros
    /// all at once (stream chunks are committed zero-padded to the chunk size).
    public static func digest(_ bytes: UnsafeRawBufferPointer, zeroPadding padding: Int) -> Hash256 {
        var hasher = SHA256()
        hasher.update(bufferPointer: bytes)
        if padding > 0 {
            let zeros = [UInt8](repeating: 0, count: min(padding, 16384))
            var left = padding
            while left > 0 {
                let n = min(left, zeros.count)
                zeros.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[..<n])) }
                left -= n
            }
        }
        return Hash256(hasher.finalize())
    }
}
