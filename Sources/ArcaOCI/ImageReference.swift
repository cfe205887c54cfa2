import ArcaCore

/// Where an image lives, in the syntax of containers-transports(5):
/// `oci:DIR[:TAG]`, `docker-archive:FILE[:NAME[:TAG]]`, `docker://[HOST[:PORT]/]REPO[:TAG|@DIGEST]`.
public enum ImageReference: Hashable, Sendable, CustomStringConvertible {
    case ociLayout(path: String, tag: String?)
    case dockerArchive(path: String, name: String?)
    case registry(RegistryReference)

    public static let acceptedForms = """
        oci:DIR[:TAG]                          an OCI image layout directory (tag optional when it holds one image)
        docker-archive:FILE[:NAME:TAG]         a tarball as written by `docker save`
        docker://[HOST[:PORT]/]REPO[:TAG|@sha256:DIGEST]   a registry (for example docker://registry.local:5000/app:1.0)
        """

    public init(parsing text: String) throws {
        func bad(_ why: String) -> ArcaError {
            ArcaError(.invalidArgument, "image reference \"\(text)\" \(why). Accepted forms:\n\(Self.acceptedForms)")
        }
        if text.hasPrefix("docker://") {
            do {
                self = .registry(try RegistryReference(parsing: String(text.dropFirst("docker://".count))))
            } catch let error as ArcaError {
                throw bad("is not a valid registry reference (\(error.message))")
            }
            return
        }
        guard let colon = text.firstIndex(of: ":") else { throw bad("has no transport") }
        let transport = text[..<colon]
        let rest = String(text[text.index(after: colon)...])
        switch transport {
        case "oci":
            let (path, tag) = Self.splitPath(rest)
            guard !path.isEmpty else { throw bad("names no directory") }
            if let tag, !Self.isValidTag(tag) { throw bad("has an invalid tag \"\(tag)\"") }
            self = .ociLayout(path: path, tag: tag)
        case "docker-archive":
            let (path, name) = Self.splitPath(rest)
            guard !path.isEmpty else { throw bad("names no file") }
            if let name {
                do { _ = try RegistryReference(parsing: name) } catch { throw bad("has an invalid image name \"\(name)\"") }
            }
            self = .dockerArchive(path: path, name: name)
        case "docker":
            throw bad("needs two slashes after docker: (docker://REPO)")
        default:
            throw bad("uses the unknown transport \"\(transport)\"")
        }
    }

    /// Splits `PATH[:REST]` at the first colon, as containers/image does.
    private static func splitPath(_ text: String) -> (String, String?) {
        guard let colon = text.firstIndex(of: ":") else { return (text, nil) }
        let tail = String(text[text.index(after: colon)...])
        return (String(text[..<colon]), tail.isEmpty ? nil : tail)
    }

    /// A tag as the distribution spec defines it: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
    public static func isValidTag(_ tag: String) -> Bool {
        let bytes = Array(tag.utf8)
        guard (1...128).contains(bytes.count) else { return false }
        func word(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 }
        return word(bytes[0]) && bytes.dropFirst().allSatisfy { word($0) || $0 == 46 || $0 == 45 }
    }

    public var description: String {
        switch self {
        case .ociLayout(let path, let tag): "oci:\(path)" + (tag.map { ":\($0)" } ?? "")
        case .dockerArchive(let path, let name): "docker-archive:\(path)" + (name.map { ":\($0)" } ?? "")
        case .registry(let reference): "docker://\(reference)"
        }
    }
}

/// A registry image name, normalized as Docker does: a bare `NAME` is `docker.io/library/NAME:latest`.
public struct RegistryReference: Hashable, Sendable, CustomStringConvertible {
    public var registry: String
    public var repository: String
    public var tag: String?
    public var digest: Digest?

    public init(parsing text: String) throws {
        var rest = Substring(text)
        var digest: Digest?
        if let at = rest.firstIndex(of: "@") {
            digest = try Digest(parsing: String(rest[rest.index(after: at)...]))
            rest = rest[..<at]
        }
        var tag: String?
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            tag = String(rest[rest.index(after: colon)...])
            rest = rest[..<colon]
        }
        var components = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var registry = "docker.io"
        if components.count > 1, let first = components.first,
           first.contains(".") || first.contains(":") || first == "localhost" || first.contains(where: \.isUppercase) {
            registry = first
            components.removeFirst()
        }
        if registry == "docker.io" && components.count == 1 { components.insert("library", at: 0) }
        let repository = components.joined(separator: "/")
        guard !components.isEmpty, components.allSatisfy(Self.isValidPathComponent) else {
            throw ArcaError(.invalidArgument, "repository \"\(repository)\" must be lowercase path components of letters, digits and . _ -")
        }
        if let tag, !ImageReference.isValidTag(tag) {
            throw ArcaError(.invalidArgument, "tag \"\(tag)\" is not valid")
        }
        guard !registry.isEmpty else { throw ArcaError(.invalidArgument, "registry host is empty") }
        self.registry = registry
        self.repository = repository
        self.digest = digest
        self.tag = tag ?? (digest == nil ? "latest" : nil)
    }

    private static func isValidPathComponent(_ text: String) -> Bool {
        guard let first = text.utf8.first, let last = text.utf8.last else { return false }
        func alnum(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 97 && c <= 122) }
        return alnum(first) && alnum(last) && text.utf8.allSatisfy { alnum($0) || $0 == 46 || $0 == 95 || $0 == 45 }
    }

    public var description: String {
        var text = "\(registry)/\(repository)"
        if let tag { text += ":\(tag)" }
        if let digest { text += "@\(digest)" }
        return text
    }
}
