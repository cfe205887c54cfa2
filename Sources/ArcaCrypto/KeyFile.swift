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
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }
        let trimmed = bytes.drop(while: isSpace).reversed().drop(while: isSpace).reversed()
        let text = String(decoding: trimmed, as: UTF8.self)
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
