import ArcaCore

/// A source that proves by itself that the bytes it hands out are the blob `promised` names: it
/// throws, instead of reporting its end, when their size or digest differ. A destination given
/// such a source for the same descriptor need not hash the bytes a second time.
public protocol SelfVerifyingSource: ByteSource {
    var promised: Descriptor { get }
}

extension SelfVerifyingSource {
    /// True when this source's proof covers `descriptor`.
    public func proves(_ descriptor: Descriptor) -> Bool {
        promised.digest == descriptor.digest && promised.size == descriptor.size
    }
}

/// Reads a blob while hashing it; at its end, checks the size and digest the descriptor promised.
///
/// Bytes are handed out as they stream by, so a consumer must treat everything it got as
/// untrusted until `read` has returned 0 (the end, after which the blob is proven good). The
/// stream never reads more than `size + 1` bytes from the store, so a lying store cannot make
/// it run on.
public final class VerifiedBlobSource: SelfVerifyingSource {
    private let base: any ByteSource
    private let expected: Descriptor
    private let label: String
    private var hashing: HashingSource
    private var verified = false

    public var promised: Descriptor { expected }

    public init(_ base: any ByteSource, expected: Descriptor, label: String) {
        self.base = base
        self.expected = expected
        self.label = label
        self.hashing = HashingSource(LimitedSource(base, limit: expected.size + 1))
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try hashing.read(into: buffer)
        if hashing.count > expected.size {
            throw ArcaError(.integrity, "\(label) \(expected.digest.short)… is larger than its descriptor's \(expected.size) bytes")
        }
        if n == 0 && !verified {
            guard hashing.count == expected.size else {
                throw ArcaError(.integrity, "\(label) \(expected.digest.short)… is truncated: \(hashing.count) of \(expected.size) bytes")
            }
            let actual = Digest(sha256Hex: hashing.hexDigest())
            guard actual == expected.digest else {
                throw ArcaError(.integrity, "\(label) digest mismatch: expected \(expected.digest), got \(actual)")
            }
            verified = true
        }
        return n
    }

    /// Reads to the end (so the blob is verified) and returns all bytes; for small JSON blobs.
    public func readVerified(limit: Int) throws -> [UInt8] {
        guard expected.size <= Int64(limit) else {
            throw ArcaError(.limitExceeded, "\(label) \(expected.digest.short)… is \(formatBytes(expected.size)), over the \(formatBytes(limit)) limit")
        }
        return try readAll(limit: limit, what: "\(label) \(expected.digest.short)…")
    }
}
