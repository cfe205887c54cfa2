import ArcaCore
import FoundationEssentials

/// JSON for OCI blobs: canonical output (sorted keys, no escaped slashes) so the same image gives
/// the same digests, and decoding errors that name the file they came from.
public enum CanonicalJSON {
    /// The largest JSON document (manifest, index, config) Arca reads.
    public static let maxDocumentSize = 8 * 1024 * 1024

    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    /// Decodes `bytes`; a failure names `source` (a file name or a digest) and what was wrong.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], source: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch let error as ArcaError {
            throw ArcaError(error.code, "\(source): \(error.message)")
        } catch let error as DecodingError {
            throw ArcaError(.invalidFormat, "\(source) is not a valid \(T.self): \(describe(error))")
        } catch {
            throw ArcaError(.invalidFormat, "\(source) is not valid JSON: \(error)")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "the document" : keys.joined(separator: ".")
        }
        switch error {
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "malformed JSON" : "\(path(context)): \(context.debugDescription)"
        case .keyNotFound(let key, let context):
            return "\(path(context)) has no \"\(key.stringValue)\""
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(path(context)) has the wrong type"
        @unknown default:
            return "\(error)"
        }
    }
}
