/// The one error type of Arca: a machine-readable `code`, a message that names the offending
/// value (and the limit, where one applies), and an optional underlying cause.
public struct ArcaError: Error, Sendable, CustomStringConvertible {
    /// An extensible error category. Tests match on it; users read the message.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A value given by the user (a flag, a reference) is malformed.
        public static let invalidArgument = Code(rawValue: "invalid-argument")
        /// Input data (JSON, tar, an image) does not follow its format.
        public static let invalidFormat = Code(rawValue: "invalid-format")
        /// A digest or size does not match what was promised.
        public static let integrity = Code(rawValue: "integrity")
        /// Input would break out of its target (path traversal, symlink escape).
        public static let unsafePath = Code(rawValue: "unsafe-path")
        /// A configured limit (size, count, header length) was exceeded.
        public static let limitExceeded = Code(rawValue: "limit-exceeded")
        /// Something named does not exist.
        public static let notFound = Code(rawValue: "not-found")
        /// A valid input uses a feature Arca does not support.
        public static let unsupported = Code(rawValue: "unsupported")
        /// An operating-system call failed.
        public static let io = Code(rawValue: "io")
        /// A target exists already.
        public static let alreadyExists = Code(rawValue: "already-exists")
    }

    public var code: Code
    public var message: String
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        guard let cause else { return message }
        return "\(message): \(cause)"
    }
}
