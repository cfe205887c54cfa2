import ArcaCore

/// Checks every field of a session; the first violation is thrown as `.invalidArgument`
/// naming the field and the offending value.
public enum SessionValidator {
    public static let maximumNameLength = 128
    public static let maximumServices = 64
    public static let maximumSecrets = 256
    public static let maximumVolumes = 64
    public static let maximumSecretSize = 64 * 1024
    public static let maximumStringLength = 4096
    public static let maximumListLength = 1024

    public static func validate(_ session: Session) throws {
        try validateName(session.name)
        try check(!session.version.isEmpty && session.version.utf8.count <= 64 && isPrintable(session.version),
                  "version \(quoted(session.version)) must be 1 to 64 printable characters")
        if let predecessor = session.predecessor { try checkHex(predecessor, bytes: 32, what: "predecessor") }
        try check(!session.services.isEmpty, "session \(session.name) has no services")
        try check(session.services.count <= maximumServices,
                  "session has \(session.services.count) services, over the \(maximumServices) limit")
        try check(session.secrets.count <= maximumSecrets,
                  "session has \(session.secrets.count) secrets, over the \(maximumSecrets) limit")
        try check(session.volumes.count <= maximumVolumes,
                  "session has \(session.volumes.count) volumes, over the \(maximumVolumes) limit")
        try unique(session.services.map(\.name), what: "service")
        try unique(session.secrets.map(\.name), what: "secret")
        try unique(session.volumes.map(\.name), what: "volume")
        for secret in session.secrets { try validate(secret) }
        for volume in session.volumes {
            try validateIdentifier(volume.name, what: "volume name")
            try validatePath(volume.path, what: "volume \(volume.name) path")
            if let key = volume.key { try checkHex(key, bytes: 32, what: "volume \(volume.name) key") }
        }
        for (image, key) in session.keys {
            try validateIdentifier(image, what: "image name in keys", allowSlash: true)
            try checkHex(key, bytes: 32, what: "key of image \(image)")
        }
        for kind in session.security.allowedEvidence {
            try validateIdentifier(kind, what: "evidence kind")
        }
        for item in session.security.tolerate {
            try check(!item.isEmpty && item.utf8.count <= 128 && isPrintable(item), "tolerate entry \(quoted(item)) is not printable")
        }
        try validateHardware(session.security)
        let secretNames = Set(session.secrets.map(\.name))
        let volumeNames = Set(session.volumes.map(\.name))
        for service in session.services {
            try validate(service, secretNames: secretNames, volumeNames: volumeNames, images: Set(session.keys.keys))
        }
    }

    private static func validateHardware(_ security: Security) throws {
        let hex: [(String?, String)] = [
            (security.sgx?.mrsigner, "security.sgx.mrsigner"), (security.tdx?.mrconfigid, "security.tdx.mrconfigid"),
            (security.tdx?.mrowner, "security.tdx.mrowner"), (security.snp?.hostData, "security.snp.hostData"),
        ]
        for (value, what) in hex { if let value { try checkHex(value, bytes: nil, what: what) } }
        let lists: [([String]?, String)] = [
            (security.sgx?.mrenclave, "security.sgx.mrenclave"), (security.tdx?.mrtd, "security.tdx.mrtd"),
            (security.snp?.measurement, "security.snp.measurement"),
        ]
        for (values, what) in lists {
            try check((values?.count ?? 0) <= maximumListLength, "\(what) has over \(maximumListLength) entries")
            for value in values ?? [] { try checkHex(value, bytes: nil, what: what) }
        }
        for (name, value) in security.tdx?.rtmr ?? [:] {
            try check(["rtmr0", "rtmr1", "rtmr2", "rtmr3"].contains(name), "security.tdx.rtmr names \(quoted(name)); RTMRs are rtmr0 … rtmr3")
            try checkHex(value, bytes: 48, what: "security.tdx.rtmr.\(name)")
        }
        for key in security.snp?.signingKeys ?? [] {
            try check(key == "vcek" || key == "vlek", "security.snp.signingKeys entry \(quoted(key)) is not vcek or vlek")
        }
    }

    /// `team/app`: one or more `/`-separated segments of `[a-z0-9][a-z0-9._-]*`, at most 128 characters.
    public static func validateName(_ name: String) throws {
        try check(!name.isEmpty && name.utf8.count <= maximumNameLength,
                  "session name \(quoted(name)) must be 1 to \(maximumNameLength) characters")
        for segment in name.split(separator: "/", omittingEmptySubsequences: false) {
            let bytes = Array(segment.utf8)
            let valid = !bytes.isEmpty && isLowerAlnum(bytes[0])
                && bytes.allSatisfy { isLowerAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
            try check(valid, "session name \(quoted(name)) has a bad segment \(quoted(String(segment))): segments are [a-z0-9][a-z0-9._-]*")
        }
    }

    private static func validate(_ secret: Secret) throws {
        try validateIdentifier(secret.name, what: "secret name")
        switch secret.kind {
        case .given:
            try check(secret.value != nil, "secret \(secret.name) is of kind given but has no value")
        case .ascii, .binary:
            try check(secret.value != nil || secret.size != nil, "secret \(secret.name) needs a size or a value")
        }
        if let size = secret.size {
            try check(size >= 1 && size <= maximumSecretSize,
                      "secret \(secret.name) size \(size) is outside 1…\(maximumSecretSize)")
        }
        if let value = secret.value {
            try check(value.utf8.count <= maximumSecretSize * 2,
                      "secret \(secret.name) value is \(value.utf8.count) bytes, over the \(maximumSecretSize * 2) limit")
        }
        try check(secret.env != nil || secret.file != nil, "secret \(secret.name) is exposed neither as env nor as file")
        if let env = secret.env { try validateEnvName(env, what: "secret \(secret.name) env") }
        if let file = secret.file { try validatePath(file, what: "secret \(secret.name) file") }
        try check(!(secret.kind == .binary && secret.env != nil),
                  "secret \(secret.name) is binary and cannot be exposed as an environment variable")
    }

    private static func validate(_ service: Service, secretNames: Set<String>, volumeNames: Set<String>, images: Set<String>) throws {
        try validateIdentifier(service.name, what: "service name")
        try check(!service.measurements.isEmpty || service.signer != nil,
                  "service \(service.name) names neither measurements nor a signer")
        try check(service.measurements.count <= maximumListLength, "service \(service.name) has too many measurements")
        for m in service.measurements { try checkHex(m, bytes: 32, what: "service \(service.name) measurement") }
        if let signer = service.signer { try checkHex(signer.signer, bytes: nil, what: "service \(service.name) signer") }
        try check(service.command.count <= maximumListLength, "service \(service.name) command has over \(maximumListLength) arguments")
        for arg in service.command { try checkString(arg, what: "service \(service.name) command argument") }
        try check(service.environment.count <= maximumListLength, "service \(service.name) has over \(maximumListLength) environment variables")
        for (key, value) in service.environment {
            try validateEnvName(key, what: "service \(service.name) environment")
            try checkString(value, what: "service \(service.name) environment value of \(key)")
        }
        if let dir = service.workingDir { try validatePath(dir, what: "service \(service.name) workingDir") }
        if let user = service.user {
            try check(!user.isEmpty && user.utf8.count <= 64 && isPrintable(user) && !user.contains("/"),
                      "service \(service.name) user \(quoted(user)) is not a user name or uid[:gid]")
        }
        for env in service.allowHostEnv { try validateEnvName(env, what: "service \(service.name) allowHostEnv") }
        for name in service.secrets {
            try check(secretNames.contains(name), "service \(service.name) uses unknown secret \(quoted(name))")
        }
        for name in service.volumes {
            try check(volumeNames.contains(name), "service \(service.name) uses unknown volume \(quoted(name))")
        }
        for name in service.images {
            try check(images.contains(name), "service \(service.name) uses unknown image key \(quoted(name))")
        }
    }

    static func validateIdentifier(_ value: String, what: String, allowSlash: Bool = false) throws {
        let bytes = Array(value.utf8)
        let valid = !bytes.isEmpty && bytes.count <= 128 && isAlnum(bytes[0]) && bytes.allSatisfy {
            isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
                || $0 == UInt8(ascii: ":") || (allowSlash && $0 == UInt8(ascii: "/"))
        }
        try check(valid, "\(what) \(quoted(value)) must be 1 to 128 of [A-Za-z0-9._-:] starting with a letter or digit")
    }

    static func validateEnvName(_ value: String, what: String) throws {
        let bytes = Array(value.utf8)
        let valid = !bytes.isEmpty && bytes.count <= 128 && !(bytes[0] >= 0x30 && bytes[0] <= 0x39)
            && bytes.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "_") }
        try check(valid, "\(what) name \(quoted(value)) is not [A-Za-z_][A-Za-z0-9_]*")
    }

    static func validatePath(_ value: String, what: String) throws {
        let components = value.split(separator: "/", omittingEmptySubsequences: true)
        let valid = value.hasPrefix("/") && value.utf8.count <= 1024 && !value.utf8.contains(0)
            && !components.contains("..") && !components.contains(".")
        try check(valid, "\(what) \(quoted(value)) must be an absolute path without . or .. components")
    }

    private static func checkString(_ value: String, what: String) throws {
        try check(value.utf8.count <= maximumStringLength && !value.utf8.contains(0),
                  "\(what) is \(value.utf8.count) bytes or holds a NUL byte; the limit is \(maximumStringLength)")
    }

    private static func checkHex(_ value: String, bytes: Int?, what: String) throws {
        let decoded = value.utf8.count <= 256 ? Hex.decode(value) : nil
        let valid = decoded.map { !$0.isEmpty && (bytes == nil || $0.count == bytes) } ?? false
        let expect = bytes.map { "\($0 * 2) hex digits" } ?? "hex digits"
        try check(valid && value == value.lowercased(), "\(what) \(quoted(value)) must be \(expect), lowercase")
    }

    private static func unique(_ names: [String], what: String) throws {
        var seen = Set<String>()
        for name in names {
            try check(seen.insert(name).inserted, "\(what) name \(quoted(name)) appears twice")
        }
    }

    private static func check(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw ArcaError(.invalidArgument, message()) }
    }

    private static func isLowerAlnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) }
    private static func isAlnum(_ b: UInt8) -> Bool { isLowerAlnum(b) || (b >= 0x41 && b <= 0x5a) }
    private static func isPrintable(_ s: String) -> Bool { s.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7f } }

    /// Quotes a user value for an error message, cut to 80 characters.
    public static func quoted(_ value: String) -> String {
        let cut = value.count > 80 ? String(value.prefix(80)) + "…" : value
        return "\"" + cut.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined() + "\""
    }
}
