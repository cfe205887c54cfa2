import ArcaCore

/// POSIX pax extended-header records: `"%d %s=%s\n"`, where the decimal length counts the whole
/// record including its own digits. Values are bytes (xattr values need not be text).
enum PaxRecords {
    struct Record: Equatable {
        var key: String
        var value: [UInt8]
    }

    /// Parses a whole extended header. Every length is checked against the bytes that remain,
    /// so a lying or overflowing length is an `invalidFormat` error, never an out-of-bounds read.
    static func parse(_ data: [UInt8], entry: some CustomStringConvertible) throws -> [Record] {
        var records: [Record] = []
        var position = 0
        while position < data.count {
            var cursor = position
            var length = 0
            while cursor < data.count, data[cursor] != 0x20 {
                let byte = data[cursor]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), cursor - position < 18 else {
                    throw bad("pax record at byte \(position) of \(entry) has a malformed length")
                }
                length = length * 10 + Int(byte - UInt8(ascii: "0"))
                cursor += 1
            }
            let digits = cursor - position
            guard digits > 0, cursor < data.count else {
                throw bad("pax record at byte \(position) of \(entry) has a malformed length")
            }
            guard length <= data.count - position else {
                throw bad("pax record at byte \(position) of \(entry) claims \(length) bytes but only \(data.count - position) remain")
            }
            guard length >= digits + 4 else {
                throw bad("pax record at byte \(position) of \(entry) claims \(length) bytes, too short for a record")
            }
            let end = position + length
            guard data[end - 1] == 0x0a else {
                throw bad("pax record at byte \(position) of \(entry) does not end with a newline")
            }
            let body = data[(cursor + 1)..<(end - 1)]
            guard let equals = body.firstIndex(of: UInt8(ascii: "=")), equals > body.startIndex else {
                throw bad("pax record at byte \(position) of \(entry) has no key=value")
            }
            guard let key = String(validating: body[body.startIndex..<equals], as: UTF8.self), !key.contains("\0") else {
                throw bad("pax record at byte \(position) of \(entry) has a key that is not UTF-8")
            }
            records.append(Record(key: key, value: Array(body[(equals + 1)...])))
            position = end
        }
        return records
    }

    /// Encodes records in the given order.
    static func encode(_ records: [Record]) -> [UInt8] {
        var out: [UInt8] = []
        for record in records {
            let bodyLength = 1 + record.key.utf8.count + 1 + record.value.count + 1
            var digits = String(bodyLength).count
            if String(bodyLength + digits).count != digits { digits += 1 }
            out += Array(String(bodyLength + digits).utf8)
            out.append(0x20)
            out += Array(record.key.utf8)
            out.append(UInt8(ascii: "="))
            out += record.value
            out.append(0x0a)
        }
        return out
    }

    /// A non-negative decimal (`size`, `uid`, `gid`).
    static func decimal(_ value: [UInt8], key: String, entry: some CustomStringConvertible) throws -> Int64 {
        guard !value.isEmpty, value.count <= 18,
              value.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw bad("pax \(key) of \(entry) is not a non-negative decimal: \"\(String(decoding: value.prefix(40), as: UTF8.self).debugEscaped)\"")
        }
        return value.reduce(0) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
    }

    /// A pax time: `[-]seconds[.fraction]`, fraction truncated to nanoseconds.
    static func time(_ value: [UInt8], key: String, entry: some CustomStringConvertible) throws -> TarTime {
        var bytes = value[...]
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { bytes = bytes.dropFirst() }
        let dot = bytes.firstIndex(of: UInt8(ascii: "."))
        let whole = bytes[..<(dot ?? bytes.endIndex)]
        let fraction = dot.map { bytes[($0 + 1)...] } ?? []
        let isDigit: (UInt8) -> Bool = { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        guard !whole.isEmpty, whole.count <= 18, whole.allSatisfy(isDigit), fraction.allSatisfy(isDigit),
              dot == nil || !fraction.isEmpty else {
            throw bad("pax \(key) of \(entry) is not a time: \"\(String(decoding: value.prefix(40), as: UTF8.self).debugEscaped)\"")
        }
        var seconds = whole.reduce(Int64(0)) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
        var nanos: Int32 = 0
        var scale: Int32 = 100_000_000
        for digit in fraction.prefix(9) {
            nanos += Int32(digit - UInt8(ascii: "0")) * scale
            scale /= 10
        }
        if negative {
            seconds = -seconds
            if nanos > 0 {
                seconds -= 1
                nanos = 1_000_000_000 - nanos
            }
        }
        return TarTime(seconds: seconds, nanoseconds: nanos)
    }

    /// The pax text of a time: seconds, plus a trimmed fraction when there are nanoseconds.
    static func format(_ time: TarTime) -> String {
        guard time.nanoseconds != 0 else { return String(time.seconds) }
        var seconds = time.seconds
        var nanos = Int64(time.nanoseconds)
        var sign = ""
        if seconds < 0 {
            seconds = -(seconds + 1)
            nanos = 1_000_000_000 - nanos
            sign = "-"
        }
        var fraction = String(nanos)
        fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(sign)\(seconds).\(fraction)"
    }

    /// Decodes `%XX` escapes (libarchive's encoding of xattr names in `LIBARCHIVE.xattr.*`).
    static func percentDecode(_ text: String) -> String? {
        var out: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let byte = bytes.popFirst() {
            if byte == UInt8(ascii: "%") {
                guard bytes.count >= 2, let decoded = Hex.decode(String(decoding: bytes.prefix(2), as: UTF8.self)) else {
                    return nil
                }
                out += decoded
                bytes = bytes.dropFirst(2)
            } else {
                out.append(byte)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    private static func bad(_ message: String) -> ArcaError { ArcaError(.invalidFormat, message) }
}
