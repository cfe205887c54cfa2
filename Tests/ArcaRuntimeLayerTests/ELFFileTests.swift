import ArcaCore
import ArcaTestSupport
import Testing
@testable import ArcaRuntimeLayer

@Suite("ELF reader")
struct ELFFileTests {
    @Test("reads the built arca-init: loader, libraries, run path")
    func realBinary() throws {
        let path = try RuntimeFixtures.arcaInit()
        let (elf, _) = try ELFFile.load(path: path, limit: 1 << 30)
        #expect(elf.machine == ELFFile.machineX86_64 || elf.machine == ELFFile.machineAArch64)
        let interpreter = try #require(elf.interpreter)
        #expect(interpreter.hasPrefix("/lib"))
        #expect(elf.needed.contains("libc.so.6"))
        #expect(!elf.needed.contains { $0.hasPrefix("libswiftCore") }, "the Swift runtime is linked statically")
        #expect(elf.rpath.contains(RuntimeLayer.libraryDirectory))
        #expect(elf.runpath.isEmpty)
    }

    @Test("reads a shared library's soname")
    func realLibrary() throws {
        let libc = try #require(["/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6"].first(where: FileSystem.exists))
        let (elf, _) = try ELFFile.load(path: libc, limit: 64 << 20)
        #expect(elf.kind == .sharedObject)
        #expect(elf.soname == "libc.so.6")
        #expect(elf.interpreter != nil, "glibc's libc.so.6 is itself runnable and names the loader")
    }

    @Test("reads every field of a synthetic file")
    func synthetic() throws {
        let file = SyntheticELF(type: 2, needed: ["liba.so.1", "libb.so.2"], rpath: "/.arca/lib:$ORIGIN", runpath: "/x", soname: "me.so")
        let (bytes, layout) = file.build()
        let elf = try ELFFile(bytes: bytes, name: "synthetic")
        #expect(elf.kind == .executable)
        #expect(elf.interpreter == "/lib64/ld-linux-x86-64.so.2")
        #expect(elf.interpreterRange == layout.interpreter..<(layout.interpreter + 28))
        #expect(elf.needed == ["liba.so.1", "libb.so.2"])
        #expect(elf.rpath == ["/.arca/lib", "$ORIGIN"])
        #expect(elf.runpath == ["/x"])
        #expect(elf.soname == "me.so")
        #expect(elf.runpathTagOffsets.count == 1)
    }

    @Test("a file that is not ELF is refused by name")
    func notELF() throws {
        for bytes in [[], Array("#!/bin/sh\necho hi\n".utf8), [0x7f, 0x45, 0x4c]] as [[UInt8]] {
            let error = try #require(throws: ArcaError.self) { try ELFFile(bytes: bytes, name: "script") }
            #expect(error.code == .invalidFormat)
            #expect(error.message.contains("script"))
        }
    }

    @Test("32-bit, big-endian and relocatable files are refused")
    func otherKinds() throws {
        var bytes = SyntheticELF().build().bytes
        bytes[4] = 1
        #expect(throws: ArcaError.self) { try ELFFile(bytes: bytes, name: "x") }
        bytes = SyntheticELF().build().bytes
        bytes[5] = 2
        #expect(throws: ArcaError.self) { try ELFFile(bytes: bytes, name: "x") }
        let error = try #require(throws: ArcaError.self) { try ELFFile(bytes: SyntheticELF(type: 1).build().bytes, name: "x") }
        #expect(error.message.contains("type 1"))
    }

    @Test("truncation at every byte gives an error, never a crash")
    func truncatedEverywhere() throws {
        let (bytes, _) = SyntheticELF(needed: ["libc.so.6"], rpath: "/.arca/lib").build()
        #expect(throws: Never.self) { try ELFFile(bytes: bytes, name: "full") }
        for length in 0..<bytes.count {
            #expect(throws: ArcaError.self, "prefix of \(length) bytes") {
                try ELFFile(bytes: Array(bytes[..<length]), name: "prefix")
            }
        }
    }

    @Test("truncating the real binary at its structure boundaries gives an error")
    func truncatedRealBinary() throws {
        let (elf, bytes) = try ELFFile.load(path: try RuntimeFixtures.arcaInit(), limit: 1 << 30)
        let interp = try #require(elf.interpreterRange)
        for length in [0, 3, 16, 63, 64, 100, interp.lowerBound, interp.upperBound - 1, 4096] where length < bytes.count {
            #expect(throws: ArcaError.self, "prefix of \(length) bytes") {
                try ELFFile(bytes: Array(bytes[..<length]), name: "prefix")
            }
        }
    }

    @Test("flipped bits give an error or a parse, never a crash")
    func flippedBits() throws {
        let (bytes, layout) = SyntheticELF(needed: ["libc.so.6", "libm.so.6"], rpath: "/.arca/lib", soname: "s").build()
        var generator = SplitMix(seed: 0x5eed)
        var failures = 0
        for _ in 0..<4000 {
            var mutated = bytes
            for _ in 0..<Int(generator.next() % 3 + 1) {
                let index = Int(generator.next() % UInt64(layout.end))
                mutated[index] ^= UInt8(1 << (generator.next() % 8))
            }
            do { _ = try ELFFile(bytes: mutated, name: "mutated") } catch is ArcaError { failures += 1 }
        }
        #expect(failures > 0, "some mutations must be detected")
    }

    @Test("overflowing offsets, sizes and counts are refused")
    func overflows() throws {
        let (bytes, layout) = SyntheticELF(needed: ["libc.so.6"]).build()
        func patched(_ offset: Int, _ value: UInt64, _ width: Int = 8) -> [UInt8] {
            var copy = bytes
            for index in 0..<width { copy[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
            return copy
        }
        let cases: [(String, [UInt8])] = [
            ("e_phoff at the top", patched(32, .max)),
            ("e_phoff past the end", patched(32, UInt64(bytes.count))),
            ("e_phnum PN_XNUM", patched(56, 0xffff, 2)),
            ("e_phnum huge", patched(56, 5000, 2)),
            ("e_phentsize wrong", patched(54, 64, 2)),
            ("interp size overflowing", patched(64 + 32, .max)),
            ("interp offset overflowing", patched(64 + 8, .max - 3)),
            ("dynamic size not a multiple of 16", patched(64 + 2 * 56 + 32, 17)),
            ("dynamic size past the end", patched(64 + 2 * 56 + 32, 1 << 40)),
            ("string table address outside every segment", patched(layout.dynamic + 16 + 8, 0x10)),
            ("string table size overflowing", patched(layout.dynamic + 32 + 8, .max)),
            ("needed name offset outside the table", patched(layout.dynamic + 8, 1 << 32)),
            ("no DT_NULL", patched(layout.dynamic + 48, 7)),
        ]
        for (what, input) in cases {
            #expect(throws: ArcaError.self, "\(what)") { try ELFFile(bytes: input, name: what) }
        }
    }

    @Test("a PT_INTERP without NUL, a relative one and an unterminated string are refused")
    func badStrings() throws {
        var (bytes, layout) = SyntheticELF(needed: ["libc.so.6"]).build()
        bytes[layout.interpreter + 27] = UInt8(ascii: "x")
        let unterminated = try #require(throws: ArcaError.self) { try ELFFile(bytes: bytes, name: "x") }
        #expect(unterminated.message.contains("NUL"))

        let relative = SyntheticELF(interpreter: "lib/ld.so").build().bytes
        #expect(throws: ArcaError.self) { try ELFFile(bytes: relative, name: "x") }

        (bytes, layout) = SyntheticELF(interpreter: nil, needed: ["libc.so.6"]).build()
        let tableEnd = layout.strings + 1 + "libc.so.6".utf8.count
        bytes[tableEnd] = UInt8(ascii: "x") // the name's NUL
        #expect(throws: ArcaError.self) { try ELFFile(bytes: bytes, name: "x") }
    }

    @Test("patching PT_INTERP and DT_RUNPATH keeps the size and is read back")
    func patch() throws {
        let file = SyntheticELF(needed: ["libc.so.6"], runpath: "/.arca/lib")
        var (bytes, _) = file.build()
        let before = try ELFFile(bytes: bytes, name: "x")
        try ELFPatch.retarget(&bytes, before, interpreter: RuntimeLayer.interpreterPath)
        let after = try ELFFile(bytes: bytes, name: "x")
        #expect(bytes.count == file.build().bytes.count)
        #expect(after.interpreter == RuntimeLayer.interpreterPath)
        #expect(after.rpath == ["/.arca/lib"])
        #expect(after.runpath.isEmpty)

        let tooLong = try #require(throws: ArcaError.self) {
            try ELFPatch.retarget(&bytes, after, interpreter: "/" + String(repeating: "a", count: 40))
        }
        #expect(tooLong.code == .limitExceeded)
    }
}

/// A tiny deterministic generator, so a failing mutation can be replayed.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
