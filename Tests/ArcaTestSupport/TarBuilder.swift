import ArcaArchive
import ArcaCore

/// Builds tar streams in memory for tests: well-formed, or as hostile as a test needs.
public struct TarBuilder {
    public enum Member {
        case file(String, [UInt8], mode: UInt32 = 0o644)
        case directory(String)
        case symlink(String, target: String)
        case hardlink(String, target: String)
        /// Any entry, exactly as given (for hostile cases).
        case raw(TarEntry, [UInt8]?)
    }

    public static func tar(_ members: [Member]) throws -> [UInt8] {
        let sink = MemorySink()
        let writer = TarWriter(sink: sink)
        for member in members {
            switch member {
            case .file(let path, let bytes, let mode):
                try writer.append(TarEntry(path: path, type: .regular, mode: mode, size: Int64(bytes.count)), content: MemorySource(bytes))
            case .directory(let path):
                try writer.append(TarEntry(path: path, type: .directory, mode: 0o755), content: nil)
            case .symlink(let path, let target):
                try writer.append(TarEntry(path: path, type: .symlink, mode: 0o777, linkTarget: target), content: nil)
            case .hardlink(let path, let target):
                try writer.append(TarEntry(path: path, type: .hardlink, linkTarget: target), content: nil)
            case .raw(let entry, let bytes):
                try writer.append(entry, content: bytes.map { MemorySource($0) })
            }
        }
        try writer.finish()
        return sink.bytes
    }

    /// A ustar entry built byte by byte, bypassing the writer's checks (names with `..`, absolute
    /// names, any type flag): the way a hostile archive is made. Append `endOfArchive` after the last.
    public static func rawEntry(name: String, content: [UInt8] = [], typeflag: UInt8 = UInt8(ascii: "0"),
                                linkname: String = "", mode: Int = 0o644) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int, width: Int) {
            for (index, byte) in text.utf8.prefix(width).enumerated() { header[offset + index] = byte }
        }
        func octal(_ value: Int, at offset: Int, width: Int) {
            let digits = String(value, radix: 8)
            put(String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits, at: offset, width: width - 1)
        }
        put(name, at: 0, width: 100)
        octal(mode, at: 100, width: 8)
        octal(0, at: 108, width: 8)
        octal(0, at: 116, width: 8)
        octal(content.count, at: 124, width: 12)
        octal(0, at: 136, width: 12)
        header[156] = typeflag
        put(linkname, at: 157, width: 100)
        put("ustar", at: 257, width: 6)
        put("00", at: 263, width: 2)
        for index in 148..<156 { header[index] = 0x20 }
        let sum = header.reduce(0) { $0 + Int($1) }
        octal(sum, at: 148, width: 7)
        header[155] = 0x20
        let padding = (512 - content.count % 512) % 512
        return header + content + [UInt8](repeating: 0, count: padding)
    }

    public static let endOfArchive = [UInt8](repeating: 0, count: 1024)

    public static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        let sink = MemorySink()
        let compressor = LayerCompression.gzip.compressing(sink)
        try compressor.write(bytes)
        try compressor.finish()
        return sink.bytes
    }
}
