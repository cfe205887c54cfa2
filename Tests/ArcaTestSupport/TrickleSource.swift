import ArcaCore

/// Serves `bytes` in pieces of at most `chunk` bytes per read: a network or pipe that splits
/// anywhere, for parsers that must not assume whole reads.
public final class TrickleSource: ByteSource {
    private let bytes: [UInt8]
    private let chunk: Int
    private var offset = 0

    public init(_ bytes: [UInt8], chunk: Int) {
        self.bytes = bytes
        self.chunk = max(1, chunk)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = min(buffer.count, chunk, bytes.count - offset)
        guard count > 0 else { return 0 }
        bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + count)])) }
        offset += count
        return count
    }
}

/// Everything `source` gives, read `step` bytes at a time (a consumer with a small or odd buffer).
public func readToEnd(_ source: any ByteSource, step: Int) throws -> [UInt8] {
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: max(1, step))
    while true {
        let n = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
        if n == 0 { return out }
        out += buffer[..<n]
    }
}
