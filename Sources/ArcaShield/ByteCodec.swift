import ArcaCore
import ArcaCrypto

/// Appends fixed-width big-endian fields (the canonical encoding has no other kind).
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { bytes.appendBigEndian(v) }
    mutating func u32(_ v: UInt32) { bytes.appendBigEndian(v) }
    mutating func u64(_ v: UInt64) { bytes.appendBigEndian(v) }
    mutating func i64(_ v: Int64) { bytes.appendBigEndian(v) }
    mutating func raw(_ v: some Sequence<UInt8>) { bytes.append(contentsOf: v) }
    mutating func hash(_ v: Hash256) { bytes.append(contentsOf: v.bytes) }
}

/// Reads fixed-width big-endian fields with bounds checks; every failure is an `invalidFormat`
/// error naming the field, the place and the byte offset, never a trap.
struct ByteReader {
    let bytes: [UInt8]
    private(set) var offset: Int
    let end: Int
    /// Names the region being read, for error messages ("index header", "public entry 3").
    var place: String

    init(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil, place: String) {
        self.bytes = bytes
        self.offset = start
        self.end = end ?? bytes.count
        self.place = place
    }

    var remaining: Int { end - offset }

    func fail(_ what: String) -> ArcaError {
        ArcaError(.invalidFormat, "\(place): \(what) at byte \(offset)")
    }

    private mutating func take(_ count: Int, _ what: String) throws -> Int {
        guard count >= 0, count <= remaining else {
            throw fail("\(what) is truncated (needs \(count) bytes, \(remaining) left)")
        }
        let start = offset
        offset += count
        return start
    }

    private mutating func integer<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws -> T {
        let start = try take(MemoryLayout<T>.size, what)
        var value: T = 0
        for i in 0..<MemoryLayout<T>.size { value = value << 8 | T(bytes[start + i]) }
        return value
    }

    mutating func u8(_ what: String) throws -> UInt8 { try integer(UInt8.self, what) }
    mutating func u16(_ what: String) throws -> UInt16 { try integer(UInt16.self, what) }
    mutating func u32(_ what: String) throws -> UInt32 { try integer(UInt32.self, what) }
    mutating func u64(_ what: String) throws -> UInt64 { try integer(UInt64.self, what) }
    mutating func i64(_ what: String) throws -> Int64 { Int64(bitPattern: try integer(UInt64.self, what)) }

    mutating func raw(_ count: Int, _ what: String) throws -> ArraySlice<UInt8> {
        let start = try take(count, what)
        return bytes[start..<(start + count)]
    }

    mutating func hash(_ what: String) throws -> Hash256 {
        let start = try take(32, what)
        return bytes.withUnsafeBytes { Hash256(bytes: UnsafeRawBufferPointer(rebasing: $0[start..<(start + 32)])) }
    }

    /// A UTF-8 string of `count` bytes.
    mutating func string(_ count: Int, _ what: String) throws -> String {
        let slice = try raw(count, what)
        guard let text = String(validating: slice, as: UTF8.self) else {
            throw fail("\(what) is not valid UTF-8")
        }
        return text
    }

    /// Requires that nothing is left.
    func expectEnd(_ what: String) throws {
        guard remaining == 0 else { throw fail("\(remaining) unexpected bytes after \(what)") }
    }
}
