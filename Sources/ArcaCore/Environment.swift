#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads an environment variable.
public func environmentValue(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org), if set to a valid non-negative integer.
public func sourceDateEpoch() throws -> Int64? {
    guard let text = environmentValue("SOURCE_DATE_EPOCH"), !text.isEmpty else { return nil }
    guard let value = Int64(text), value >= 0 else {
        throw ArcaError(.invalidArgument, "SOURCE_DATE_EPOCH is \"\(text)\"; it must be a whole number of seconds since 1970")
    }
    return value
}

/// The whole process environment.
public func processEnvironment() -> [String: String] {
    var result: [String: String] = [:]
    var pointer = environ
    while let entry = pointer.pointee {
        let text = String(cString: entry)
        if let equals = text.firstIndex(of: "=") {
            result[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        pointer += 1
    }
    return result
}
