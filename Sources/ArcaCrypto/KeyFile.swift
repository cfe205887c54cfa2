import ArcaCore
import SystemPackage

/// Key files: one master key as 64 hex digits and a newline, created with mode 0600.
public enum KeyFile {
    /// Reads a key file: 64 hex digits with optional surrounding whitespace, or exactly 32 raw bytes.
    /// Error messages never contain key material.
    public static func read(path: String) throws -> MasterKey {
        let bytes = try FileSystem.readFile(path, limit: 4096)
        if bytes.count == MasterKey.byteCount, Hex.decode(String(decoding: bytes, as: UTF8.self)) == nil {
            return try MasterKey(bytes: bytes)
        }
        let text = String(decoding: bytes, as: UTF8.self).trimmingASCIIWhitespace()
        guard text.utf8.count == 2 * MasterKey.byteCount, let key = Hex.decode(text) else {
            throw ArcaError(.invalidFormat, "key file \(path) does not hold a key: expected 64 hex digits or 32 raw bytes (\(bytes.count) bytes found)")
        }
        return try MasterKey(bytes: key)
    }

    /// Writes `key` as hex to a new file `path` with mode 0600, refusing to overwrite.
    public static func write(_ key: MasterKey, to path: String) throws {
        let text = key.withUnsafeBytes { Hex.encode($0) } + "\n"
        let sink = try FileSink(path: path, permissions: [.ownerReadWrite], exclusive: true, sync: true)
        try sink.write(text)
        try sink.finish()
    }
}

extension String {
    fileprivate func trimmingASCIIWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
