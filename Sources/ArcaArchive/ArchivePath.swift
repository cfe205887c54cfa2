import ArcaCore

/// Normalization and safety checks for the names inside tar archives.
///
/// A normalized path is relative, has no `.` or empty components and no `..`, and names the
/// root as `"."`. Normalization is purely lexical: it never consults a file system, so `..`
/// is resolved against the names before it, and a `..` that would leave the root is refused.
public enum ArchivePath {
    /// The normalized name of the root directory (`./` or `/` in a tar).
    public static let root = "."

    /// Normalizes a tar name: strips leading `/` and `./`, collapses `//`, drops `.` components,
    /// resolves `..` lexically and refuses one that leaves the root, NUL bytes and empty names.
    public static func normalize(_ name: String, limits: ArchiveLimits = .default) throws -> String {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty else { throw ArcaError(.invalidFormat, "a tar entry has an empty name") }
        guard !bytes.contains(0) else {
            throw ArcaError(.unsafePath, "entry name \(quoted(name)) contains a NUL byte")
        }
        var parts: [ArraySlice<UInt8>] = []
        for component in bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            if component.elementsEqual([UInt8(ascii: ".")]) { continue }
            if component.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                guard !parts.isEmpty else {
                    throw ArcaError(.unsafePath, "entry name \(quoted(name)) leaves the root with \"..\"")
                }
                parts.removeLast()
                continue
            }
            parts.append(component)
        }
        guard !parts.isEmpty else { return root }
        let joined = parts.joined(separator: [UInt8(ascii: "/")])
        let result = String(decoding: Array(joined), as: UTF8.self)
        let length = result.utf8.count
        guard length <= limits.maxPathLength else {
            throw ArcaError(.limitExceeded,
                            "entry name \(quoted(name)) is \(length) bytes, over the \(limits.maxPathLength)-byte maxPathLength limit")
        }
        return result
    }

    /// The components of a normalized path (none for the root).
    public static func components(_ path: String) -> [String] {
        path == root ? [] : path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }

    /// The parent of a normalized path (`"."` for a top-level name and for the root).
    public static func parent(_ path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return root }
        return String(path[..<slash])
    }

    /// The last component of a normalized path (`"."` for the root).
    public static func baseName(_ path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return path }
        return String(path[path.utf8.index(after: slash)...])
    }

    /// Joins a normalized directory path and a single name.
    public static func join(_ directory: String, _ name: String) -> String {
        directory == root ? name : directory + "/" + name
    }

    /// A name for error messages: quoted, and shortened when very long.
    static func quoted(_ name: String) -> String {
        let scalars = name.unicodeScalars
        if scalars.count <= 120 { return "\"\(name.debugEscaped)\"" }
        let head = String(String.UnicodeScalarView(scalars.prefix(100)))
        return "\"\(head.debugEscaped)…\" (\(name.utf8.count) bytes)"
    }
}

extension String {
    /// The string with control characters escaped, so an error message cannot forge lines.
    var debugEscaped: String {
        var out = ""
        for scalar in unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f || scalar == "\"" || scalar == "\\" {
                out += scalar.escaped(asASCII: true)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// What an OCI whiteout name means (image-spec `layer.md`, "Whiteouts").
public enum Whiteout: Equatable, Sendable {
    /// An ordinary name.
    case none
    /// `.wh..wh..opq`: hide everything the lower layers put in this directory.
    case opaque
    /// `.wh.NAME`: remove `NAME` (the associated base name) of the lower layers.
    case remove(String)
    /// Another `.wh..wh.` name (aufs metadata such as `.wh..wh.plnk`): skipped, as containerd does.
    case reserved

    static let prefix = ".wh."
    static let opaqueName = ".wh..wh..opq"

    /// The tar name of a whiteout that removes the normalized `path` of lower layers.
    public static func removalName(for path: String) -> String {
        ArchivePath.join(ArchivePath.parent(path), prefix + ArchivePath.baseName(path))
    }

    /// The tar name of the opaque marker of the normalized `directory`.
    public static func opaqueName(in directory: String) -> String {
        ArchivePath.join(directory, opaqueName)
    }

    /// Classifies a base name; refuses whiteouts that name `.`, `..` or nothing.
    public static func classify(baseName: String, path: String) throws -> Whiteout {
        guard baseName.hasPrefix(prefix) else { return .none }
        if baseName == opaqueName { return .opaque }
        let target = String(baseName.dropFirst(prefix.count))
        if target.hasPrefix(prefix) { return .reserved }
        guard !target.isEmpty, target != ".", target != "..", !target.contains("/") else {
            throw ArcaError(.unsafePath, "whiteout \(ArchivePath.quoted(path)) names \(ArchivePath.quoted(target)), not a file")
        }
        return .remove(target)
    }
}
