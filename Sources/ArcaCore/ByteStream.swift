/// A pull stream of bytes: files, decompressors, tar entries, HTTP bodies.
///
/// Streams are reference types used from one thread at a time; they are never `Sendable`.
public protocol ByteSource: AnyObject {
    /// Reads up to `buffer.count` bytes into `buffer` and returns how many were read; 0 means the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// A push stream of bytes: files, compressors, hashers, tar writers.
public protocol ByteSink: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// Flushes what is buffered and ends the stream. Writing after `finish` is a programmer error.
    func finish() throws
}

/// The chunk size used when copying between streams.
public let streamChunkSize = 256 * 1024

extension ByteSource {
    /// Reads until `buffer` is full or the stream ends; returns the number of bytes read.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if n == 0 { break }
            filled += n
        }
        return filled
    }

    /// Reads exactly `count` bytes or throws `invalidFormat` naming `what` on a short read.
    public func readExactly(_ count: Int, what: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let got = try bytes.withUnsafeMutableBytes { try readFully(into: $0) }
        guard got == count else {
            throw ArcaError(.invalidFormat, "\(what) is truncated: expected \(count) bytes, got \(got)")
        }
        return bytes
    }

    /// Reads up to `count` bytes (fewer only at the end of the stream).
    public func readPrefix(_ count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let got = try bytes.withUnsafeMutableBytes { try readFully(into: $0) }
        return Array(bytes[..<got])
    }

    /// Reads the whole stream into memory, refusing more than `limit` bytes.
    public func readAll(limit: Int, what: String) throws -> [UInt8] {
        var out = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: min(limit + 1, 64 * 1024))
        while true {
            let n = try chunk.withUnsafeMutableBytes { try read(into: $0) }
            if n == 0 { return out }
            out.append(contentsOf: chunk[..<n])
            if out.count > limit {
                throw ArcaError(.limitExceeded, "\(what) is larger than the \(formatBytes(limit)) limit")
            }
        }
    }

    /// Reads and discards up to `count` bytes; returns how many were discarded.
    @discardableResult
    public func discard(_ count: Int64) throws -> Int64 {
        var left = count
        var scratch = [UInt8](repeating: 0, count: Int(min(count, Int64(streamChunkSize))))
        while left > 0 {
            let want = Int(min(left, Int64(scratch.count)))
            let n = try scratch.withUnsafeMutableBytes { try read(into: UnsafeMutableRawBufferPointer(rebasing: $0[..<want])) }
            if n == 0 { break }
            left -= Int64(n)
        }
        return count - left
    }

    /// Copies the rest of this stream into `sink` (without finishing it); returns the byte count.
    @discardableResult
    public func copy(to sink: some ByteSink) throws -> Int64 {
        var total: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: streamChunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try read(into: buffer)
            if n == 0 { return total }
            try sink.write(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
            total += Int64(n)
        }
    }
}

extension ByteSink {
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    public func write(_ text: String) throws {
        try write(Array(text.utf8))
    }
}

/// An in-memory source over a byte array.
public final class MemorySource: ByteSource {
    private let bytes: [UInt8]
    private var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - offset)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { all in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: all[offset..<(offset + n)]))
        }
        offset += n
        return n
    }
}

/// An in-memory sink that collects everything written to it.
public final class MemorySink: ByteSink {
    public private(set) var bytes: [UInt8] = []
    public init() {}
    public func write(_ bytes: UnsafeRawBufferPointer) throws { self.bytes.append(contentsOf: bytes) }
    public func finish() throws {}
}

/// Reads at most `limit` bytes of an underlying source, then reports the end.
public final class LimitedSource: ByteSource {
    private let base: any ByteSource
    public private(set) var remaining: Int64

    public init(_ base: any ByteSource, limit: Int64) {
        self.base = base
        self.remaining = limit
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard remaining > 0 else { return 0 }
        let want = Int(min(Int64(buffer.count), remaining))
        let n = try base.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]))
        remaining -= Int64(n)
        return n
    }
}

/// Counts the bytes that pass through to an optional downstream sink.
public final class CountingSink: ByteSink {
    private let next: (any ByteSink)?
    public private(set) var count: Int64 = 0

    public init(_ next: (any ByteSink)? = nil) { self.next = next }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        count += Int64(bytes.count)
        try next?.write(bytes)
    }

    public func finish() throws { try next?.finish() }
}

/// Formats a byte count for humans: `3.1 GiB`, `512 KiB`, `17 B`.
public func formatBytes(_ count: some BinaryInteger) -> String {
    let value = Double(count)
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var scaled = value
    var unit = 0
    while scaled >= 1024 && unit < units.count - 1 {
        scaled /= 1024
        unit += 1
    }
    if unit == 0 { return "\(Int64(count)) B" }
    let rounded = (scaled * 10).rounded() / 10
    let text = rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    return "\(text) \(units[unit])"
}

extension ByteSource {
    /// Reads and discards everything up to the end of the stream.
    public func drain() throws {
        _ = try discard(.max)
    }
}
