import ArcaCore

/// The 512-byte tar header block: field layout, numeric codecs and checksums (POSIX ustar,
/// with GNU base-256 numbers and the old-GNU / v7 variants).
enum TarHeader {
    static let blockSize = 512

    enum Field {
        static let name = 0..<100
        static let mode = 100..<108
        static let uid = 108..<116
        static let gid = 116..<124
        static let size = 124..<136
        static let mtime = 136..<148
        static let checksum = 148..<156
        static let typeflag = 156
        static let linkname = 157..<257
        static let magic = 257..<263
        static let version = 263..<265
        static let uname = 265..<297
        static let gname = 297..<329
        static let devmajor = 329..<337
        static let devminor = 337..<345
        static let prefix = 345..<500
    }

    enum Format { case ustar, gnu, v7 }

    static let ustarMagic: [UInt8] = Array("ustar\0".utf8)
    static let gnuMagic: [UInt8] = Array("ustar ".utf8)  // followed by version " \0"

    static func format(of block: [UInt8]) -> Format {
        let magic = Array(block[Field.magic])
        if magic == ustarMagic { return .ustar }
        if magic == gnuMagic { return .gnu }
        return .v7
    }

    static func isZero(_ block: [UInt8]) -> Bool {
        block.withUnsafeBytes { raw in
            raw.withMemoryRebound(to: UInt64.self) { words in words.allSatisfy { $0 == 0 } }
        }
    }

    /// The bytes of a string field up to its first NUL.
    static func text(_ block: [UInt8], _ range: Range<Int>) -> [UInt8] {
        let field = block[range]
        if let end = field.firstIndex(of: 0) { return Array(field[..<end]) }
        return Array(field)
    }

    /// Parses a numeric field: octal (space/NUL padded) or GNU base-256 (two's complement,
    /// high bit of the first byte set). Throws `invalidFormat` naming the field on garbage or overflow.
    static func number(_ block: [UInt8], _ range: Range<Int>, field: String, entry: some CustomStringConvertible) throws -> Int64 {
        let bytes = block[range]
        guard let first = bytes.first else { return 0 }
        if first & 0x80 != 0 {
            let invert: UInt8 = first & 0x40 != 0 ? 0xff : 0
            var value: UInt64 = 0
            for (index, byte) in bytes.enumerated() {
                var digit = byte ^ invert
                if index == 0 { digit &= 0x7f }
                guard value >> 56 == 0 else { throw overflow(field, entry) }
                value = value << 8 | UInt64(digit)
            }
            guard value >> 63 == 0 else { throw overflow(field, entry) }
            return invert == 0xff ? ~Int64(value) : Int64(value)
        }
        var start = bytes.startIndex
        var end = bytes.endIndex
        while start < end, bytes[start] == 0x20 || bytes[start] == 0 { start += 1 }
        while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0 { end -= 1 }
        var value: Int64 = 0
        for byte in bytes[start..<end] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "7") else {
                let shown = String(decoding: bytes, as: UTF8.self).debugEscaped
                throw ArcaError(.invalidFormat, "\(field) field of tar entry \(entry) is not an octal number: \"\(shown)\"")
            }
            guard value >> 60 == 0 else { throw overflow(field, entry) }
            value = value << 3 | Int64(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func overflow(_ field: String, _ entry: some CustomStringConvertible) -> ArcaError {
        ArcaError(.invalidFormat, "\(field) field of tar entry \(entry) overflows 63 bits")
    }

    /// Whether the stored checksum equals the unsigned or the (historic) signed byte sum.
    static func checksumMatches(_ block: [UInt8], offset: Int64) throws -> Bool {
        let stored = try number(block, Field.checksum, field: "checksum", entry: EntryLabel(name: [], offset: offset))
        let (unsigned, signed) = checksums(block)
        return stored == unsigned || stored == signed
    }

    /// Unsigned and signed sums of the block with the checksum field counted as spaces.
    static func checksums(_ block: [UInt8]) -> (unsigned: Int64, signed: Int64) {
        var unsigned: Int64 = 8 * 0x20
        var signed: Int64 = 8 * 0x20
        block.withUnsafeBufferPointer { bytes in
            for index in bytes.indices where index < Field.checksum.lowerBound || index >= Field.checksum.upperBound {
                unsigned &+= Int64(bytes[index])
                signed &+= Int64(Int8(bitPattern: bytes[index]))
            }
        }
        return (unsigned, signed)
    }

    // MARK: writing

    /// Stores `value` as zero-padded octal with a NUL terminator; false if it does not fit.
    static func putOctal(_ block: inout [UInt8], _ range: Range<Int>, _ value: Int64) -> Bool {
        guard value >= 0 else { return false }
        let digits = range.count - 1
        var remaining = value
        var index = range.lowerBound + digits - 1
        while index >= range.lowerBound {
            block[index] = UInt8(ascii: "0") + UInt8(remaining & 7)
            remaining >>= 3
            index -= 1
        }
        block[range.upperBound - 1] = 0
        return remaining == 0
    }

    /// The largest value an octal field of `range` can hold.
    static func octalLimit(_ range: Range<Int>) -> Int64 { (Int64(1) << (3 * Int64(range.count - 1))) - 1 }

    /// Copies `bytes` into a string field; false if they do not fit.
    static func putText(_ block: inout [UInt8], _ range: Range<Int>, _ bytes: some Collection<UInt8>) -> Bool {
        guard bytes.count <= range.count else { return false }
        var index = range.lowerBound
        for byte in bytes {
            block[index] = byte
            index += 1
        }
        return true
    }

    /// Fills in the checksum field (six octal digits, NUL, space) of a finished block.
    static func seal(_ block: inout [UInt8]) {
        let sum = checksums(block).unsigned
        _ = putOctal(&block, Field.checksum.lowerBound..<(Field.checksum.lowerBound + 7), sum)
        block[Field.checksum.upperBound - 1] = 0x20
    }
}

/// Names a tar entry in error messages; the text is only built when an error is.
struct EntryLabel: CustomStringConvertible {
    let name: [UInt8]
    let offset: Int64

    var description: String {
        name.isEmpty ? "at offset \(offset)" : "\(ArchivePath.quoted(String(decoding: name, as: UTF8.self))) at offset \(offset)"
    }
}
