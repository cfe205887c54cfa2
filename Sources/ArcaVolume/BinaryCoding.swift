import ArcaCore

/// Appends big-endian integers and length-prefixed byte strings (the volume's binary encodings).
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u16(_ value: UInt16) { integer(value) }
    mutating func u32(_ value: UInt32) { integer(value) }
    mutating func u64(_ value: UInt64) { integer(value) }
    mutating func i64(_ value: Int64) { integer(value) }
    mutating func fixed(_ value: [UInt8]) { bytes.append(contentsOf: value) }
    /// A u32 length, then the bytes.
    mutating func data(_ value: [UInt8]) {
        u32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    private mutating func integer<T: FixedWidthInteger>(_ value: T) {
        var big = value.bigEndian
        withUnsafeBytes(of: &big) { bytes.append(contentsOf: $0) }
    }
}

/// Reads what `ByteWriter` wrote; every read is bounds-checked and throws `invalidFormat` naming
/// `what` and the offset, so hostile bytes give an error, never a crash.
struct ByteReader {
    private let bytes: [UInt8]
    private(set) var offset = 0
    let what: String

    init(_ bytes: [UInt8], what: String) {
        self.bytes = bytes
        self.what = what
    }

    var isAtEnd: Bool { offset == bytes.count }
    var remaining: Int { bytes.count - offset }

    mutating func u8() throws -> UInt8 { try integer() }
    mutating func u16() throws -> UInt16 { try integer() }
    mutating func u32() throws -> UInt32 { try integer() }
    mutating func u64() throws -> UInt64 { try integer() }
    mutating func i64() throws -> Int64 { try integer() }

    mutating func fixed(_ count: Int) throws -> [UInt8] {
        guard count >= 0, count <= remaining else {
            throw ArcaError(.invalidFormat, "\(what) is truncated at byte \(offset): \(count) bytes needed, \(remaining) left")
        }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// A u32 length (at most `limit`), then that many bytes.
    mutating func data(limit: Int) throws -> [UInt8] {
        let count = try u32()
        guard count <= limit else {
            throw ArcaError(.invalidFormat, "\(what) has a \(count)-byte field at byte \(offset), over the \(limit) limit")
        }
        return try fixed(Int(count))
    }

    private mutating func integer<T: FixedWidthInteger>() throws -> T {
        let raw = try fixed(MemoryLayout<T>.size)
        return raw.reduce(T(0)) { $0 << 8 | T($1) }
    }
}
