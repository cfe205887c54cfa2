import ArcaCore

/// Intel signs the exact bytes of a JSON value (`tcbInfo`, `enclaveIdentity`) inside a
/// response body, so the verifier must find that value's byte range without re-serialising it.
/// This scanner walks one JSON object's top level and returns the raw span of each member.
enum JSONSpans {
    static let maximumDepth = 64

    /// Raw bytes of each top-level member value of the object in `bytes`.
    static func members(_ bytes: [UInt8], what: String) throws -> [String: ArraySlice<UInt8>] {
        var i = 0
        func fail(_ reason: String) -> ArcaError {
            ArcaError(.invalidFormat, "\(what) is not valid JSON: \(reason) at byte \(i)")
        }
        func skipSpace() { while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 } }
        func string() throws -> String {
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string") }
            let start = i + 1
            i += 1
            while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                if bytes[i] == UInt8(ascii: "\\") { i += 1 }
                i += 1
            }
            guard i < bytes.count else { throw fail("unterminated string") }
            defer { i += 1 }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }
        func skipValue(depth: Int) throws {
            guard depth < maximumDepth else { throw fail("nesting deeper than \(maximumDepth)") }
            skipSpace()
            guard i < bytes.count else { throw fail("truncated value") }
            switch bytes[i] {
            case UInt8(ascii: "\""): _ = try string()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let close = bytes[i] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                let isObject = close == UInt8(ascii: "}")
                i += 1
                skipSpace()
                if i < bytes.count, bytes[i] == close { i += 1; return }
                while true {
                    if isObject {
                        skipSpace(); _ = try string(); skipSpace()
                        guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                        i += 1
                    }
                    try skipValue(depth: depth + 1)
                    skipSpace()
                    guard i < bytes.count else { throw fail("truncated container") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    guard bytes[i] == close else { throw fail("expected ',' or a closing bracket") }
                    i += 1
                    return
                }
            default:
                let start = i
                while i < bytes.count, !([0x2C, 0x7D, 0x5D, 0x20, 0x09, 0x0A, 0x0D].contains(bytes[i])) { i += 1 }
                guard i > start else { throw fail("empty value") }
            }
        }
        var result: [String: ArraySlice<UInt8>] = [:]
        skipSpace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else { throw fail("expected an object") }
        i += 1
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { return result }
        while true {
            skipSpace()
            let key = try string()
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            i += 1
            skipSpace()
            let start = i
            try skipValue(depth: 1)
            result[key] = bytes[start..<i]
            skipSpace()
            guard i < bytes.count else { throw fail("truncated object") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            guard bytes[i] == UInt8(ascii: "}") else { throw fail("expected ',' or '}'") }
            return result
        }
    }

    /// The unquoted content of a JSON string value span (no escapes expected in hex signatures).
    static func stringValue(_ span: ArraySlice<UInt8>, what: String) throws -> String {
        guard span.count >= 2, span.first == UInt8(ascii: "\""), span.last == UInt8(ascii: "\"") else {
            throw ArcaError(.invalidFormat, "\(what) is not a JSON string")
        }
        return String(decoding: span.dropFirst().dropLast(), as: UTF8.self)
    }
}
