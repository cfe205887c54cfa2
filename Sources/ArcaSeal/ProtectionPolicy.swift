import ArcaCore
import ArcaMeasurement
import Yams

/// The protection policy: rules by path, the longest matching prefix wins, `/` is authenticated
/// unless said otherwise. Built from `arca seal` flags or a YAML file; validated on construction.
public struct ProtectionPolicy: Hashable, Sendable {
    /// The rules sorted by path, always including one for `/`.
    public let rules: [PolicyRule]

    public init(_ rules: [PolicyRule]) throws {
        var byPath: [String: PolicyRule] = [:]
        for var rule in rules {
            rule.path = try Self.normalize(rule.path)
            if case .volume(let name) = rule.pathClass, !Self.isValidVolumeName(name) {
                throw ArcaError(.invalidArgument, "volume name \"\(name)\" for \(rule.path) must be letters, digits, '.', '_' or '-' (at most 64)")
            }
            if let existing = byPath[rule.path] {
                guard existing == rule else {
                    throw ArcaError(.invalidArgument, "\(rule.path) is given two classes: \(existing.pathClass) and \(rule.pathClass)")
                }
                continue
            }
            byPath[rule.path] = rule
        }
        if byPath["/"] == nil { byPath["/"] = PolicyRule(path: "/", pathClass: .authenticated) }
        guard byPath["/"]?.pathClass == .authenticated || byPath["/"]?.pathClass == .encrypted else {
            throw ArcaError(.invalidArgument, "/ must be authenticated or encrypted, not \(byPath["/"]!.pathClass)")
        }
        let sorted = byPath.values.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        var seenVolumes: [String: String] = [:]
        for rule in sorted {
            if case .volume(let name) = rule.pathClass {
                if let other = seenVolumes[name] {
                    throw ArcaError(.invalidArgument, "volume \(name) is mounted at both \(other) and \(rule.path)")
                }
                seenVolumes[name] = rule.path
            }
            // Runtime mounts (volumes, ephemeral, host paths) may not sit inside an encrypted region,
            // nor inside each other: the tree under them would be hidden or ambiguous.
            guard rule.pathClass != .authenticated, rule.pathClass != .encrypted else { continue }
            for outer in sorted where outer.path != rule.path && Self.contains(outer.path, rule.path) {
                if outer.pathClass == .encrypted, outer.path != "/" {
                    throw ArcaError(.invalidArgument, "\(rule.pathClass) \(rule.path) is inside the encrypted path \(outer.path); mount it elsewhere")
                }
                if outer.pathClass != .authenticated && outer.pathClass != .encrypted {
                    throw ArcaError(.invalidArgument, "\(rule.pathClass) \(rule.path) is inside \(outer.pathClass) \(outer.path)")
                }
            }
        }
        self.rules = sorted
    }

    /// The class of an absolute path: the rule with the longest matching prefix.
    public func classify(_ path: String) -> PathClass {
        var best = rules[0]
        for rule in rules where Self.contains(rule.path, path) && rule.path.utf8.count >= best.path.utf8.count {
            best = rule
        }
        return best.pathClass
    }

    /// The rules with a given class, by path.
    public func paths(of pathClass: PathClass) -> [String] {
        rules.filter { $0.pathClass == pathClass }.map(\.path)
    }

    /// True when `path` is `prefix` or lies below it.
    static func contains(_ prefix: String, _ path: String) -> Bool {
        prefix == "/" || path == prefix || path.hasPrefix(prefix + "/")
    }

    /// `/a//b/./c/` → `/a/b/c`; relative paths and `..` are refused.
    public static func normalize(_ path: String) throws -> String {
        guard path.hasPrefix("/") else {
            throw ArcaError(.invalidArgument, "policy path \"\(path)\" is relative; give an absolute path such as /\(path)")
        }
        var parts: [Substring] = []
        for part in path.split(separator: "/") where part != "." {
            guard part != ".." else { throw ArcaError(.invalidArgument, "policy path \"\(path)\" contains ..") }
            parts.append(part)
        }
        guard !path.utf8.contains(0) else { throw ArcaError(.invalidArgument, "policy path contains a NUL byte") }
        return "/" + parts.joined(separator: "/")
    }

    static func isValidVolumeName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 46 || $0 == 95 || $0 == 45
        }
    }
}

extension ProtectionPolicy {
    /// The policy file: the same words as the flags.
    ///
    /// ```yaml
    /// encrypt: [/app, /models]
    /// authenticate: [/]
    /// ephemeral: [/tmp]
    /// volumes: {data: /var/lib/app}
    /// host: [/etc/resolv.conf]
    /// ```
    public struct File: Codable, Sendable {
        public var encrypt: [String]?
        public var authenticate: [String]?
        public var ephemeral: [String]?
        public var volumes: [String: String]?
        public var host: [String]?
    }

    /// Rules from flag values (`--volume NAME:PATH`).
    public static func rules(encrypt: [String], authenticate: [String], ephemeral: [String],
                             volumes: [String], host: [String]) throws -> [PolicyRule] {
        var rules = encrypt.map { PolicyRule(path: $0, pathClass: .encrypted) }
        rules += authenticate.map { PolicyRule(path: $0, pathClass: .authenticated) }
        rules += ephemeral.map { PolicyRule(path: $0, pathClass: .ephemeral) }
        rules += host.map { PolicyRule(path: $0, pathClass: .host) }
        for volume in volumes {
            guard let colon = volume.firstIndex(of: ":") else {
                throw ArcaError(.invalidArgument, "--volume \(volume) is not NAME:PATH (for example data:/var/lib/app)")
            }
            rules.append(PolicyRule(path: String(volume[volume.index(after: colon)...]), pathClass: .volume(String(volume[..<colon]))))
        }
        return rules
    }

    /// Rules from a YAML policy file's text; `source` names it in errors.
    public static func rules(yaml text: String, source: String) throws -> [PolicyRule] {
        let file: File
        do {
            file = try YAMLDecoder().decode(File.self, from: text)
        } catch {
            throw ArcaError(.invalidFormat, "\(source) is not a valid policy file (keys: encrypt, authenticate, ephemeral, volumes, host): \(error)")
        }
        return try rules(encrypt: file.encrypt ?? [], authenticate: file.authenticate ?? [], ephemeral: file.ephemeral ?? [],
                         volumes: (file.volumes ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" },
                         host: file.host ?? [])
    }
}
