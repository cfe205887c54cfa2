import ArcaCore

/// In-place edits of an ELF file's bytes that keep every offset and size unchanged.
public enum ELFPatch {
    /// Points `PT_INTERP` at `interpreter` (which must fit in the existing segment, NUL included;
    /// the rest of the segment is zeroed) and turns every `DT_RUNPATH` into a `DT_RPATH`, so the
    /// run path also covers the dependencies of the libraries (glibc ignores `DT_RPATH` when
    /// `DT_RUNPATH` is present and applies `DT_RUNPATH` to direct dependencies only).
    public static func retarget(_ bytes: inout [UInt8], _ elf: ELFFile, interpreter: String) throws {
        guard let range = elf.interpreterRange else {
            throw ArcaError(.invalidArgument, "\(elf.name) has no PT_INTERP to point at \(interpreter)")
        }
        let text = Array(interpreter.utf8)
        guard text.count + 1 <= range.count else {
            throw ArcaError(.limitExceeded, "loader path \(interpreter) needs \(text.count + 1) bytes; PT_INTERP of \(elf.name) holds \(range.count)")
        }
        guard range.upperBound <= bytes.count else {
            throw ArcaError(.invalidArgument, "\(elf.name): PT_INTERP range \(range) is outside the \(bytes.count) given bytes")
        }
        for index in range { bytes[index] = 0 }
        for (index, byte) in text.enumerated() { bytes[range.lowerBound + index] = byte }
        for offset in elf.runpathTagOffsets {
            guard offset >= 0, offset + 8 <= bytes.count else {
                throw ArcaError(.invalidArgument, "\(elf.name): DT_RUNPATH at \(offset) is outside the \(bytes.count) given bytes")
            }
            bytes[offset] = 15 // DT_RPATH; the upper bytes of the 64-bit tag stay 0
            for index in (offset + 1)..<(offset + 8) { bytes[index] = 0 }
        }
    }
}
