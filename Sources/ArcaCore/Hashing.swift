import Crypto

/// A source that hashes (SHA-256) and counts every byte read through it.
public final class HashingSource: ByteSource {
    private let base: any ByteSource
    private var hasher = SHA256()
    public private(set) var count: Int64 = 0

    public init(_ base: any ByteSource) { self.base = base }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try base.read(into: buffer)
        if n > 0 {
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[..<n]))
            count += Int64(n)
        }
        return n
    }

    /// The hex SHA-256 of everything read so far.
    public func hexDigest() -> String { Hex.encode(hasher.finalize()) }
}

/// A sink that hashes (SHA-256) and counts every byte, passing it on to an optional sink.
public final class HashingSink: ByteSink {
    private let next: (any ByteSink)?
    private var hasher = SHA256()
    public private(set) var count: Int64 = 0

    public init(_ next: (any ByteSink)? = nil) { self.next = next }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        hasher.update(bufferPointer: bytes)
        count += Int64(bytes.count)
        try next?.write(bytes)
    }

    public func finish() throws { try next?.finish() }

    /// The hex SHA-256 of everything written so far.
    public func hexDigest() -> String { Hex.encode(hasher.finalize()) }
}

/// The hex SHA-256 of a byte sequence.
public func sha256Hex(_ bytes: some Sequence<UInt8>) -> String {
    var hasher = SHA256()
    hasher.update(data: Array(bytes))
    return Hex.encode(hasher.finalize())
}
