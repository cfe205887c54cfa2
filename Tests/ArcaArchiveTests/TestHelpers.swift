import ArcaCore
import Testing
@testable import ArcaArchive

#if canImport(Glibc)
import Glibc
#endif

/// Checks that `body` throws an `ArcaError` with `code` whose message contains every fragment.
@discardableResult
func expectError(_ code: ArcaError.Code, mentioning fragments: String..., sourceLocation: SourceLocation = #_sourceLocation,
                 _ body: () throws -> Void) -> ArcaError? {
    do {
        try body()
        Issue.record("expected a \(code) error, got none", sourceLocation: sourceLocation)
        return nil
    } catch let error as ArcaError {
        #expect(error.code == code, "got \(error.code): \(error.message)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(error.message.contains(fragment), "message \"\(error.message)\" lacks \"\(fragment)\"",
                    sourceLocation: sourceLocation)
        }
        return error
    } catch {
        Issue.record("expected ArcaError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Writes entries (with their content) into an in-memory tar.
func makeTar(_ entries: [(TarEntry, [UInt8])], options: TarWriterOptions = TarWriterOptions()) throws -> [UInt8] {
    let sink = MemorySink()
    let writer = TarWriter(sink: sink, options: options)
    for (entry, content) in entries {
        try writer.append(entry, content: entry.type == .regular ? MemorySource(content) : nil)
    }
    try writer.finish()
    return sink.bytes
}

/// Reads every entry and its content.
func readTar(_ bytes: [UInt8], limits: ArchiveLimits = .default) throws -> [(entry: TarEntry, content: [UInt8])] {
    let reader = TarReader(MemorySource(bytes), limits: limits)
    var result: [(TarEntry, [UInt8])] = []
    while let entry = try reader.next() {
        result.append((entry, try reader.contentSource().readAll(limit: 1 << 26, what: entry.path)))
    }
    return result
}

/// Deterministic pseudo-random bytes (xorshift), compressible only a little.
func pseudoRandomBytes(_ count: Int, seed: UInt64 = 0x9e37_79b9_7f4a_7c15) -> [UInt8] {
    var state = seed
    var out = [UInt8](repeating: 0, count: count)
    for index in 0..<count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        out[index] = UInt8(truncatingIfNeeded: state >> 24)
    }
    return out
}

/// Hand-made tar blocks for hostile inputs, with fields the writer would never produce.
struct RawTar {
    var bytes: [UInt8] = []

    mutating func header(name: String, type: Character = "0", size: Int = 0, sizeField: [UInt8]? = nil,
                         linkname: String = "", mode: String = "0000644", magic: [UInt8] = Array("ustar\u{0}00".utf8),
                         checksumDelta: Int64 = 0) {
        var block = [UInt8](repeating: 0, count: 512)
        put(&block, 0, Array(name.utf8).prefix(100))
        put(&block, 100, Array(mode.utf8))
        put(&block, 108, Array("0000000".utf8))
        put(&block, 116, Array("0000000".utf8))
        if let sizeField {
            put(&block, 124, sizeField)
        } else {
            let octal = String(size, radix: 8)
            put(&block, 124, Array((String(repeating: "0", count: max(0, 11 - octal.count)) + octal).utf8))
        }
        put(&block, 136, Array("00000000000".utf8))
        block[156] = type.asciiValue ?? 0
        put(&block, 157, Array(linkname.utf8).prefix(100))
        put(&block, 257, magic)
        let sum = TarHeader.checksums(block).unsigned + checksumDelta
        let octal = String(sum, radix: 8)
        put(&block, 148, Array((String(repeating: "0", count: max(0, 6 - octal.count)) + octal).utf8) + [0, 0x20])
        bytes += block
    }

    mutating func data(_ content: [UInt8]) {
        bytes += content
        bytes += [UInt8](repeating: 0, count: (512 - content.count % 512) % 512)
    }

    mutating func pax(_ records: [(String, String)], global: Bool = false) {
        let body = PaxRecords.encode(records.map { PaxRecords.Record(key: $0.0, value: Array($0.1.utf8)) })
        rawPax(body, global: global)
    }

    mutating func rawPax(_ body: [UInt8], global: Bool = false) {
        header(name: "PaxHeaders/x", type: global ? "g" : "x", size: body.count)
        data(body)
    }

    mutating func end() { bytes += [UInt8](repeating: 0, count: 1024) }

    private func put(_ block: inout [UInt8], _ offset: Int, _ value: some Collection<UInt8>) {
        for (index, byte) in value.enumerated() { block[offset + index] = byte }
    }
}

/// Runs a program and returns its exit status and standard output.
@discardableResult
func run(_ arguments: [String], directory: String? = nil) throws -> (status: Int32, output: [UInt8]) {
    let outPath = try FileSystem.makeTemporaryDirectory(prefix: "arca-run")
    defer { try? FileSystem.removeTree(outPath) }
    let quoted = arguments.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
    let command = (directory.map { "cd '\($0)' && " } ?? "") + quoted + " > '\(outPath)/out' 2> '\(outPath)/err'"
    let status = system(command)
    let output = (try? FileSystem.readFile(outPath + "/out", limit: 1 << 28)) ?? []
    return (status, output)
}

/// Whether a program is on PATH.
func have(_ program: String) -> Bool {
    system("command -v \(program) > /dev/null 2>&1") == 0
}

/// Every path below `directory`, relative, sorted; symlinks are not followed.
func listTree(_ directory: String) throws -> [String] {
    var result: [String] = []
    func walk(_ path: String, _ relative: String) throws {
        for name in try FileSystem.listDirectory(path) {
            let child = path + "/" + name
            let rel = relative.isEmpty ? name : relative + "/" + name
            result.append(rel)
            var info = stat()
            if lstat(child, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { try walk(child, rel) }
        }
    }
    try walk(directory, "")
    return result
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
