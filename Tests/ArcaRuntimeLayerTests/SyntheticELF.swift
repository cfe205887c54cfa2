import ArcaCore
import Glibc

/// Builds small, valid ELF64 little-endian files for tests: a header, PT_INTERP (optional),
/// one PT_LOAD covering the file, PT_DYNAMIC with DT_NEEDED / DT_RPATH / DT_RUNPATH / DT_SONAME.
struct SyntheticELF {
    var type: UInt16 = 3
    var machine: UInt16 = 62
    var interpreter: String? = "/lib64/ld-linux-x86-64.so.2"
    var needed: [String] = []
    var rpath: String?
    var runpath: String?
    var soname: String?
    static let baseAddress: UInt64 = 0x40_0000

    /// Offsets of the parts, for tests that corrupt one of them.
    struct Layout {
        var programHeaders = 64
        var interpreter = 0
        var strings = 0
        var dynamic = 0
        var end = 0
    }

    func build() -> (bytes: [UInt8], layout: Layout) {
        var layout = Layout()
        let segmentCount = interpreter == nil ? 2 : 3
        layout.interpreter = 64 + 56 * segmentCount
        let interpBytes: [UInt8] = interpreter.map { Array($0.utf8) + [0] } ?? []
        layout.strings = layout.interpreter + interpBytes.count
        var strings: [UInt8] = [0]
        func add(_ text: String) -> UInt64 {
            let offset = UInt64(strings.count)
            strings += Array(text.utf8) + [0]
            return offset
        }
        var dynamic: [(Int64, UInt64)] = needed.map { (1, add($0)) }
        if let rpath { dynamic.append((15, add(rpath))) }
        if let runpath { dynamic.append((29, add(runpath))) }
        if let soname { dynamic.append((14, add(soname))) }
        dynamic.append((5, Self.baseAddress + UInt64(layout.strings)))
        dynamic.append((10, UInt64(strings.count)))
        dynamic.append((0, 0))
        layout.dynamic = (layout.strings + strings.count + 7) / 8 * 8
        layout.end = layout.dynamic + 16 * dynamic.count

        var out = [UInt8](repeating: 0, count: layout.end)
        func put(_ value: UInt64, _ width: Int, at offset: Int) {
            for index in 0..<width { out[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
        }
        out.replaceSubrange(0..<4, with: [0x7f, 0x45, 0x4c, 0x46])
        out[4] = 2; out[5] = 1; out[6] = 1
        put(UInt64(type), 2, at: 16)
        put(UInt64(machine), 2, at: 18)
        put(1, 4, at: 20)
        put(64, 8, at: 32)               // e_phoff
        put(64, 2, at: 52)               // e_ehsize
        put(56, 2, at: 54)               // e_phentsize
        put(UInt64(segmentCount), 2, at: 56)
        var header = 64
        func segment(_ type: UInt32, _ offset: Int, _ size: Int) {
            put(UInt64(type), 4, at: header)
            put(UInt64(offset), 8, at: header + 8)
            put(Self.baseAddress + UInt64(offset), 8, at: header + 16)
            put(Self.baseAddress + UInt64(offset), 8, at: header + 24)
            put(UInt64(size), 8, at: header + 32)
            put(UInt64(size), 8, at: header + 40)
            header += 56
        }
        if interpreter != nil { segment(3, layout.interpreter, interpBytes.count) }
        segment(1, 0, layout.end)
        segment(2, layout.dynamic, 16 * dynamic.count)
        out.replaceSubrange(layout.interpreter..<(layout.interpreter + interpBytes.count), with: interpBytes)
        out.replaceSubrange(layout.strings..<(layout.strings + strings.count), with: strings)
        for (index, (tag, value)) in dynamic.enumerated() {
            put(UInt64(bitPattern: tag), 8, at: layout.dynamic + 16 * index)
            put(value, 8, at: layout.dynamic + 16 * index + 8)
        }
        return (out, layout)
    }

    /// Writes the file with mode 0755 and returns its path.
    @discardableResult
    func write(to path: String) throws -> String {
        try FileSystem.writeAtomically(build().bytes, to: path)
        guard chmod(path, 0o755) == 0 else { throw ArcaError(.io, "cannot chmod \(path)") }
        return path
    }
}
