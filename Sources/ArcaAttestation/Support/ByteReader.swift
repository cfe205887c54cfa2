import ArcaCore

/// A bounds-checked little-endian cursor over evidence bytes. Every read names the structure
/// it was reading, so a truncated quote fails with "… truncated reading X at offset N".
struct ByteReader {
    let bytes: [UInt8]
    private(set) var offset: Int
    let end: Int
    let what: String

    init(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil, what: String) {
        self.bytes = bytes
        self.offset = max(0, min(start, bytes.count))
        self.end = max(self.offset, min(end ?? bytes.count, bytes.count))
        self.what = what
    }

    var remaining: Int { end - offset }

    mutating func take(_ count: Int, _ field: String) throws -> [UInt8] {
        guard count >= 0, count <= remaining else {
            throw ArcaError(.invalidFormat,
                            "\(what) truncated reading \(field) at offset \(offset): needs \(count) bytes, \(remaining) left")
        }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func skip(_ count: Int, _ field: String) throws { _ = try take(count, field) }

    mutating func u16(_ field: String) throws -> UInt16 {
        let b = try take(2, field)
        return UInt16(b[0]) | UInt16(b[1]) << 8
    }

    mutating func u32(_ field: String) throws -> UInt32 {
        let b = try take(4, field)
        return b.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
    }

    mutating func u64(_ field: String) throws -> UInt64 {
        let b = try take(8, field)
        return b.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }
}

extension Array where Element == UInt8 {
    /// Little-endian integer at `offset` of a buffer whose length the caller has checked.
    func littleEndian(_ offset: Int, _ size: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<size { value |= UInt64(self[offset + i]) << (8 * UInt64(i)) }
        return value
    }

    func slice(_ offset: Int, _ size: Int) -> [UInt8] { Array(self[offset..<offset + size]) }

    var isAllZero: Bool { allSatisfy { $0 == 0 } }
}
