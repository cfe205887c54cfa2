/// The class a path of the image falls into (ARCHITECTURE.md, "File classes").
public enum PathClass: Hashable, Sendable, CustomStringConvertible {
    case authenticated, encrypted, ephemeral, host
    case volume(String)

    public var description: String {
        switch self {
        case .authenticated: "authenticated"
        case .encrypted: "encrypted"
        case .ephemeral: "ephemeral"
        case .host: "host"
        case .volume(let name): "volume \(name)"
        }
    }
}

/// One policy rule: every path at or below `path` is in `pathClass`, unless a longer rule says otherwise.
public struct PolicyRule: Hashable, Sendable, Codable {
    public var path: String
    public var `class`: String
    public var volume: String?

    public var pathClass: PathClass {
        switch self.class {
        case "encrypted": .encrypted
        case "ephemeral": .ephemeral
        case "host": .host
        case "volume": .volume(volume ?? "")
        default: .authenticated
        }
    }

    public init(path: String, pathClass: PathClass) {
        self.path = path
        switch pathClass {
        case .authenticated: self.class = "authenticated"
        case .encrypted: self.class = "encrypted"
        case .ephemeral: self.class = "ephemeral"
        case .host: self.class = "host"
        case .volume(let name):
            self.class = "volume"
            self.volume = name
        }
    }
}
