import ArcaCore

/// What the runtime layer needs to know of an ELF executable or shared library: its loader
/// (`PT_INTERP`), the libraries it needs (`DT_NEEDED`) and where it looks for them
/// (`DT_RPATH` / `DT_RUNPATH`). Only 64-bit little-endian files are accepted.
///
/// The parser reads untrusted bytes: every offset, size and count is bounds-checked, and
/// malformed input throws `invalidFormat` (or `unsupported`), never traps.
public struct ELFFile: Sendable, Equatable {
    /// `ET_EXEC` or `ET_DYN`.
    public enum Kind: Sendable, Equatable {
        case executable, sharedObject
    }

    /// The name used in error messages (usually the path).
    public let name: String
    public let kind: Kind
    /// `e_machine` (62 = x86-64, 183 = AArch64).
    public let machine: UInt16
    /// The program interpreter (the dynamic loader), if the file has one.
    public let interpreter: String?
    /// File offsets of the `PT_INTERP` contents (the string, its NUL and any padding).
    public let interpreterRange: Range<Int>?
    /// `DT_NEEDED` names, in file order.
    public let needed: [String]
    public let soname: String?
    /// `DT_RPATH` entries (split at `:`).
    public let rpath: [String]
    /// `DT_RUNPATH` entries (split at `:`).
    public let runpath: [String]
    /// File offsets of the `d_tag` fields of `DT_RUNPATH` entries.
    public let runpathTagOffsets: [Int]
    /// `DF_1_PIE` is set in `DT_FLAGS_1`: an `ET_DYN` file that is a program, not a library.
    public let isPositionIndependentExecutable: Bool

    /// Whether the file is a program (not a library): `ET_EXEC`, `DF_1_PIE`, or with a loader.
    public var isProgram: Bool { kind == .executable || isPositionIndependentExecutable || interpreter != nil }

    public static let machineX86_64: UInt16 = 62
    public static let machineAArch64: UInt16 = 183

    /// Limits that keep a hostile file from costing unbounded work.
    static let maxProgramHeaders = 4096
    static let maxDynamicEntries = 65_536
    static let maxNeeded = 1024
    static let maxString = 4096

    /// Parses `bytes`; `name` is used in error messages.
    public init(bytes: [UInt8], name: String) throws {
        let reader = ELFReader(bytes: bytes, name: name)
        self.name = name
        guard bytes.count >= 4, bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else {
            throw ArcaError(.invalidFormat, "\(name) is not an ELF file (no \\x7fELF magic)")
        }
        guard bytes.count >= 64 else {
            throw ArcaError(.invalidFormat, "\(name) is a truncated ELF file: \(bytes.count) bytes, shorter than the 64-byte header")
        }
        guard bytes[4] == 2 else {
            throw ArcaError(.unsupported, "\(name) is a \(bytes[4] == 1 ? "32-bit" : "class \(bytes[4])") ELF file; only 64-bit is supported")
        }
        guard bytes[5] == 1 else {
            throw ArcaError(.unsupported, "\(name) is not a little-endian ELF file (data encoding \(bytes[5]))")
        }
        switch try reader.u16(16, "e_type") {
        case 2: kind = .executable
        case 3: kind = .sharedObject
        case let other:
            throw ArcaError(.invalidFormat, "\(name) is an ELF file of type \(other), not an executable or shared library")
        }
        machine = try reader.u16(18, "e_machine")

        let segments = try Self.programHeaders(reader)
        // A loader maps PT_LOAD file ranges; past the end of the file they fault at run time.
        for segment in segments where segment.type == 1 {
            _ = try reader.range(segment.offset, segment.fileSize, "PT_LOAD segment")
        }
        try Self.checkSectionHeaders(reader)
        var interpreter: String?
        var interpreterRange: Range<Int>?
        var dynamic: Range<Int>?
        for segment in segments {
            switch segment.type {
            case 3: // PT_INTERP
                guard interpreterRange == nil else { throw ArcaError(.invalidFormat, "\(name) has more than one PT_INTERP segment") }
                let range = try reader.range(segment.offset, segment.fileSize, "PT_INTERP")
                guard let end = bytes[range].firstIndex(of: 0) else {
                    throw ArcaError(.invalidFormat, "\(name): PT_INTERP of \(range.count) bytes is not NUL-terminated")
                }
                guard let text = String(validating: bytes[range.lowerBound..<end], as: UTF8.self), text.hasPrefix("/") else {
                    throw ArcaError(.invalidFormat, "\(name): PT_INTERP of \(end - range.lowerBound) bytes is not an absolute UTF-8 path")
                }
                interpreter = text
                interpreterRange = range
            case 2: // PT_DYNAMIC
                guard dynamic == nil else { throw ArcaError(.invalidFormat, "\(name) has more than one PT_DYNAMIC segment") }
                dynamic = try reader.range(segment.offset, segment.fileSize, "PT_DYNAMIC")
            default:
                break
            }
        }
        self.interpreter = interpreter
        self.interpreterRange = interpreterRange

        var needed: [String] = []
        var soname: String?
        var rpath: [String] = []
        var runpath: [String] = []
        var runpathTagOffsets: [Int] = []
        var pie = false
        if let dynamic {
            let entries = try Self.dynamicEntries(reader, dynamic)
            let strings = try Self.stringTable(reader, entries, segments)
            for entry in entries {
                switch entry.tag {
                case 1: // DT_NEEDED
                    guard needed.count < Self.maxNeeded else {
                        throw ArcaError(.limitExceeded, "\(name) needs more than \(Self.maxNeeded) libraries")
                    }
                    needed.append(try reader.string(in: strings, at: entry.value, "DT_NEEDED"))
                case 14: // DT_SONAME
                    soname = try reader.string(in: strings, at: entry.value, "DT_SONAME")
                case 15: // DT_RPATH
                    rpath += Self.split(try reader.string(in: strings, at: entry.value, "DT_RPATH"))
                case 29: // DT_RUNPATH
                    runpath += Self.split(try reader.string(in: strings, at: entry.value, "DT_RUNPATH"))
                    runpathTagOffsets.append(entry.offset)
                case 0x6fff_fffb: // DT_FLAGS_1
                    pie = pie || entry.value & 0x0800_0000 != 0 // DF_1_PIE
                default:
                    break
                }
            }
        } else if interpreter != nil {
            throw ArcaError(.invalidFormat, "\(name) has a PT_INTERP segment but no PT_DYNAMIC segment")
        }
        self.needed = needed
        self.soname = soname
        self.rpath = rpath
        self.runpath = runpath
        self.runpathTagOffsets = runpathTagOffsets
        self.isPositionIndependentExecutable = pie
    }

    /// Reads and parses the file at `path` (following symlinks), refusing files over `limit` bytes.
    public static func load(path: String, limit: Int) throws -> (file: ELFFile, bytes: [UInt8]) {
        let bytes = try FileSystem.readFile(path, limit: limit)
        return (try ELFFile(bytes: bytes, name: path), bytes)
    }

    // MARK: - Structure

    struct Segment {
        var type: UInt32
        var offset: UInt64
        var virtualAddress: UInt64
        var fileSize: UInt64
    }

    struct DynamicEntry {
        var tag: Int64
        var value: UInt64
        /// File offset of the entry (its `d_tag`).
        var offset: Int
    }

    private static func programHeaders(_ reader: ELFReader) throws -> [Segment] {
        let offset = try reader.u64(32, "e_phoff")
        let entrySize = try reader.u16(54, "e_phentsize")
        let count = try reader.u16(56, "e_phnum")
        if count == 0 { return [] }
        guard count != 0xffff else {
            throw ArcaError(.unsupported, "\(reader.name) has PN_XNUM program headers (over 65534); not supported")
        }
        guard Int(count) <= maxProgramHeaders else {
            throw ArcaError(.limitExceeded, "\(reader.name) has \(count) program headers, over the \(maxProgramHeaders) limit")
        }
        guard entrySize == 56 else {
            throw ArcaError(.invalidFormat, "\(reader.name): program header size is \(entrySize), not 56")
        }
        let table = try reader.range(offset, UInt64(count) * 56, "program header table")
        return try (0..<Int(count)).map { index in
            let base = table.lowerBound + index * 56
            return Segment(type: try reader.u32(base, "p_type"), offset: try reader.u64(base + 8, "p_offset"),
                           virtualAddress: try reader.u64(base + 16, "p_vaddr"), fileSize: try reader.u64(base + 32, "p_filesz"))
        }
    }

    /// The section header table is not needed to load, but one that runs past the end of the
    /// file shows the file was cut short (debug sections come last).
    private static func checkSectionHeaders(_ reader: ELFReader) throws {
        let offset = try reader.u64(40, "e_shoff")
        let entrySize = try reader.u16(58, "e_shentsize")
        let count = try reader.u16(60, "e_shnum")
        guard offset != 0, count != 0 else { return }
        _ = try reader.range(offset, UInt64(count) * UInt64(entrySize), "section header table")
    }

    private static func dynamicEntries(_ reader: ELFReader, _ range: Range<Int>) throws -> [DynamicEntry] {
        guard range.count % 16 == 0 else {
            throw ArcaError(.invalidFormat, "\(reader.name): PT_DYNAMIC is \(range.count) bytes, not a multiple of 16")
        }
        var entries: [DynamicEntry] = []
        var position = range.lowerBound
        while position < range.upperBound {
            let tag = Int64(bitPattern: try reader.u64(position, "d_tag"))
            if tag == 0 { return entries } // DT_NULL
            guard entries.count < maxDynamicEntries else {
                throw ArcaError(.limitExceeded, "\(reader.name) has more than \(maxDynamicEntries) dynamic entries")
            }
            entries.append(DynamicEntry(tag: tag, value: try reader.u64(position + 8, "d_val"), offset: position))
            position += 16
        }
        throw ArcaError(.invalidFormat, "\(reader.name): the dynamic section has no DT_NULL terminator")
    }

    /// The file range of the dynamic string table (`DT_STRTAB` is an address, mapped through `PT_LOAD`).
    private static func stringTable(_ reader: ELFReader, _ entries: [DynamicEntry], _ segments: [Segment]) throws -> Range<Int>? {
        let addresses = entries.filter { $0.tag == 5 }.map(\.value)
        let sizes = entries.filter { $0.tag == 10 }.map(\.value)
        let usesStrings = entries.contains { [1, 14, 15, 29].contains($0.tag) }
        guard let address = addresses.first else {
            if usesStrings { throw ArcaError(.invalidFormat, "\(reader.name) names libraries but has no DT_STRTAB") }
            return nil
        }
        guard addresses.count == 1, sizes.count == 1, let size = sizes.first else {
            throw ArcaError(.invalidFormat, "\(reader.name) needs exactly one DT_STRTAB and one DT_STRSZ, has \(addresses.count) and \(sizes.count)")
        }
        for segment in segments where segment.type == 1 { // PT_LOAD
            let (end, overflow) = segment.virtualAddress.addingReportingOverflow(segment.fileSize)
            guard !overflow, address >= segment.virtualAddress, address < end else { continue }
            let offset = segment.offset.addingReportingOverflow(address - segment.virtualAddress)
            guard !offset.overflow else { break }
            guard size <= end - address else {
                throw ArcaError(.invalidFormat, "\(reader.name): string table of \(size) bytes runs past its segment")
            }
            return try reader.range(offset.partialValue, size, "string table")
        }
        throw ArcaError(.invalidFormat, "\(reader.name): string table address 0x\(String(address, radix: 16)) is in no loaded segment")
    }

    private static func split(_ list: String) -> [String] {
        list.split(separator: ":", omittingEmptySubsequences: true).map(String.init)
    }
}

/// Bounds-checked little-endian reads over a byte array.
struct ELFReader {
    let bytes: [UInt8]
    let name: String

    func range(_ offset: UInt64, _ size: UInt64, _ what: String) throws -> Range<Int> {
        let (end, overflow) = offset.addingReportingOverflow(size)
        guard !overflow, end <= UInt64(bytes.count) else {
            throw ArcaError(.invalidFormat, "\(name) is truncated or corrupt: \(what) at offset \(offset) of \(size) bytes runs past the end of the \(bytes.count)-byte file")
        }
        return Int(offset)..<Int(end)
    }

    func u16(_ offset: Int, _ what: String) throws -> UInt16 { UInt16(truncatingIfNeeded: try value(offset, 2, what)) }
    func u32(_ offset: Int, _ what: String) throws -> UInt32 { UInt32(truncatingIfNeeded: try value(offset, 4, what)) }
    func u64(_ offset: Int, _ what: String) throws -> UInt64 { try value(offset, 8, what) }

    private func value(_ offset: Int, _ width: Int, _ what: String) throws -> UInt64 {
        guard offset >= 0, offset <= bytes.count - width else {
            throw ArcaError(.invalidFormat, "\(name) is truncated: \(what) at offset \(offset) is past the end of the \(bytes.count)-byte file")
        }
        var result: UInt64 = 0
        for index in (0..<width).reversed() { result = result << 8 | UInt64(bytes[offset + index]) }
        return result
    }

    /// The NUL-terminated string at `offset` inside the string table `table`.
    func string(in table: Range<Int>?, at offset: UInt64, _ what: String) throws -> String {
        guard let table else { throw ArcaError(.invalidFormat, "\(name): \(what) without a string table") }
        guard offset < UInt64(table.count) else {
            throw ArcaError(.invalidFormat, "\(name): \(what) string offset \(offset) is outside the \(table.count)-byte string table")
        }
        let start = table.lowerBound + Int(offset)
        let limit = min(table.upperBound, start + ELFFile.maxString)
        guard let end = bytes[start..<limit].firstIndex(of: 0) else {
            throw ArcaError(.invalidFormat, "\(name): \(what) string at offset \(offset) is not NUL-terminated within \(limit - start) bytes")
        }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
