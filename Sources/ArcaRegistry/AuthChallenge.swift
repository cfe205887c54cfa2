import ArcaCore

/// One `WWW-Authenticate` challenge (RFC 7235): a scheme and its parameters.
public struct AuthChallenge: Equatable, Sendable {
    /// The scheme, lowercased: `basic` or `bearer` (others are kept but not answered).
    public var scheme: String
    /// Parameter names are lowercased; values are unquoted.
    public var parameters: [String: String]

    static let maxLength = 8 << 10

    /// Parses one header value. Throws `invalidFormat` for anything malformed or over 8 KiB.
    public init(parsing header: String) throws {
        let bytes = Array(header.utf8)
        guard bytes.count <= Self.maxLength else {
            throw ArcaError(.invalidFormat, "WWW-Authenticate header is \(bytes.count) bytes, over the \(Self.maxLength) byte limit")
        }
        func bad(_ why: String) -> ArcaError {
            ArcaError(.invalidFormat, "WWW-Authenticate header \"\(String(decoding: bytes.prefix(120), as: UTF8.self))\" \(why)")
        }
        func isToken(_ c: UInt8) -> Bool {
            c > 32 && c < 127 && !"()<>@,;:\\\"/[]?={} \t".utf8.contains(c)
        }
        var i = 0
        func skipSpace() { while i < bytes.count && (bytes[i] == 32 || bytes[i] == 9) { i += 1 } }
        skipSpace()
        let schemeStart = i
        while i < bytes.count && isToken(bytes[i]) { i += 1 }
        guard i > schemeStart else { throw bad("has no scheme") }
        scheme = String(decoding: bytes[schemeStart..<i], as: UTF8.self).lowercased()
        parameters = [:]
        skipSpace()
        while i < bytes.count {
            let nameStart = i
            while i < bytes.count && isToken(bytes[i]) { i += 1 }
            guard i > nameStart else { throw bad("has a parameter without a name") }
            let name = String(decoding: bytes[nameStart..<i], as: UTF8.self).lowercased()
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "=") else { throw bad("has parameter \"\(name.prefix(40))\" without a value") }
            i += 1
            skipSpace()
            var value: [UInt8] = []
            if i < bytes.count, bytes[i] == UInt8(ascii: "\"") {
                i += 1
                var closed = false
                while i < bytes.count {
                    let c = bytes[i]
                    i += 1
                    if c == UInt8(ascii: "\"") { closed = true; break }
                    if c == UInt8(ascii: "\\") {
                        guard i < bytes.count else { break }
                        value.append(bytes[i])
                        i += 1
                    } else {
                        value.append(c)
                    }
                }
                guard closed else { throw bad("has an unterminated quoted value") }
            } else {
                while i < bytes.count && isToken(bytes[i]) { value.append(bytes[i]); i += 1 }
            }
            guard parameters[name] == nil else { throw bad("repeats parameter \"\(name.prefix(40))\"") }
            parameters[name] = String(decoding: value, as: UTF8.self)
            skipSpace()
            if i < bytes.count {
                guard bytes[i] == UInt8(ascii: ",") else { throw bad("has unexpected text after parameter \"\(name.prefix(40))\"") }
                i += 1
                skipSpace()
            }
        }
    }

    public init(scheme: String, parameters: [String: String]) {
        self.scheme = scheme
        self.parameters = parameters
    }
}
