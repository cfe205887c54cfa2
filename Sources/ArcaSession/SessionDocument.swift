import ArcaCore
import FoundationEssentials
import Yams

/// Reading and writing session documents: YAML in (bounded, alias bombs refused), canonical JSON out.
public enum SessionDocument {
    /// The largest session document accepted, in bytes.
    public static let maximumSize = 1 << 20
    /// The most YAML nodes a document may expand to (aliases counted at every use).
    public static let maximumNodes = 100_000

    /// Parses and validates a YAML (or JSON, which is YAML) session document.
    public static func parse(_ text: String) throws -> Session {
        let size = text.utf8.count
        guard size <= maximumSize else {
            throw ArcaError(.limitExceeded, "session document is \(formatBytes(size)), over the \(formatBytes(maximumSize)) limit")
        }
        let node: Node
        do {
            guard let composed = try Yams.compose(yaml: text) else {
                throw ArcaError(.invalidFormat, "session document is empty")
            }
            node = composed
        } catch let error as ArcaError {
            throw error
        } catch {
            throw ArcaError(.invalidFormat, "session document is not valid yaml: \(error)")
        }
        var budget = maximumNodes
        try countNodes(node, budget: &budget)
        let session: Session
        do {
            session = try YAMLDecoder().decode(Session.self, from: node)
        } catch {
            throw ArcaError(.invalidFormat, "session document does not match the session schema: \(describe(error))")
        }
        try SessionValidator.validate(session)
        return session
    }

    /// The canonical form: JSON with sorted keys and no insignificant whitespace.
    public static func canonicalJSON(_ session: Session) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(session))
    }

    /// SHA-256 (hex) of the canonical form; what an update names as its `predecessor`.
    public static func hash(_ session: Session) throws -> String {
        sha256Hex(try canonicalJSON(session))
    }

    /// Decodes a canonical (or any) JSON session without validating it.
    public static func decodeJSON(_ bytes: [UInt8]) throws -> Session {
        do {
            return try JSONDecoder().decode(Session.self, from: Data(bytes))
        } catch {
            throw ArcaError(.invalidFormat, "session json does not match the session schema: \(describe(error))")
        }
    }

    /// Renders a session as YAML (for `arca session show`).
    public static func yaml(_ session: Session) throws -> String {
        let encoder = YAMLEncoder()
        encoder.options.sortKeys = true
        return try encoder.encode(session)
    }

    private static func countNodes(_ node: Node, budget: inout Int) throws {
        budget -= 1
        guard budget >= 0 else {
            throw ArcaError(.limitExceeded, "session document expands to over \(maximumNodes) yaml nodes")
        }
        switch node {
        case .scalar, .alias: return
        case .sequence(let seq):
            for child in seq { try countNodes(child, budget: &budget) }
        case .mapping(let map):
            for (key, value) in map {
                try countNodes(key, budget: &budget)
                try countNodes(value, budget: &budget)
            }
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? DecodingError {
            switch error {
            case .keyNotFound(let key, let ctx):
                return "missing field \(path(ctx.codingPath + [key]))"
            case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx), .dataCorrupted(let ctx):
                return "bad value at \(path(ctx.codingPath))"
            @unknown default:
                return "\(error)"
            }
        }
        return "\(error)"
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        let text = keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return text.isEmpty ? "the top level" : String(text.drop(while: { $0 == "." }))
    }
}
