import ArcaCore
import Testing
@testable import ArcaArchive

/// Malicious or broken tar streams: each is a clear error naming the bad thing, never a crash.
@Suite struct HostileTarTests {
    func entries(_ raw: RawTar, limits: ArchiveLimits = .default) throws -> [TarEntry] {
        try readTar(raw.bytes, limits: limits).map(\.entry)
    }

    @Test func dotDotTraversalIsRefused() throws {
        var raw = RawTar()
        raw.header(name: "../evil")
        raw.end()
        expectError(.unsafePath, mentioning: "../evil", "leaves the root") { _ = try entries(raw) }
    }

    @Test func dotDotThroughADirectoryIsRefused() throws {
        var raw = RawTar()
        raw.header(name: "a/../../x")
        raw.end()
        expectError(.unsafePath, mentioning: "a/../../x") { _ = try entries(raw) }
    }

    @Test func harmlessDotDotAndAbsoluteNamesAreNormalizedInside() throws {
        var raw = RawTar()
        raw.header(name: "/etc/passwd")
        raw.header(name: "./a//b/../c")
        raw.header(name: "./", type: "5")
        raw.end()
        #expect(try entries(raw).map(\.path) == ["etc/passwd", "a/c", "."])
    }

    @Test func nulInAPaxPathIsRefused() throws {
        var raw = RawTar()
        raw.pax([("path", "ok\u{0}/../../etc")])
        raw.header(name: "x")
        raw.end()
        expectError(.unsafePath, mentioning: "NUL") { _ = try entries(raw) }
    }

    @Test func emptyNameIsRefused() throws {
        var raw = RawTar()
        raw.header(name: "")
        raw.end()
        expectError(.invalidFormat, mentioning: "empty name") { _ = try entries(raw) }
    }

    @Test func hardlinkTargetLeavingTheRootIsRefused() throws {
        var raw = RawTar()
        raw.header(name: "h", type: "1", linkname: "../../etc/shadow")
        raw.end()
        expectError(.unsafePath, mentioning: "../../etc/shadow") { _ = try entries(raw) }
    }

    @Test func oversizedPaxHeaderIsRefused() throws {
        var raw = RawTar()
        raw.pax([("comment", String(repeating: "A", count: 5000))])
        raw.header(name: "x")
        raw.end()
        expectError(.limitExceeded, mentioning: "maxHeaderSize", "4 KiB") { _ = try entries(raw, limits: ArchiveLimits(maxHeaderSize: 4096)) }
    }

    @Test func manyGnuLongNamesCountTogether() throws {
        var raw = RawTar()
        for _ in 0..<3 {
            raw.header(name: "././@LongLink", type: "L", size: 2000)
            raw.data([UInt8](repeating: UInt8(ascii: "n"), count: 2000))
        }
        raw.header(name: "x")
        raw.end()
        expectError(.limitExceeded, mentioning: "maxHeaderSize") { _ = try entries(raw, limits: ArchiveLimits(maxHeaderSize: 5000)) }
    }

    @Test func paxRecordLengthThatOverflowsIsRefused() throws {
        var raw = RawTar()
        raw.rawPax(Array("99999999999999999999999999 path=x\n".utf8))
        raw.header(name: "x")
        raw.end()
        expectError(.invalidFormat, mentioning: "malformed length") { _ = try entries(raw) }
    }

    @Test func paxRecordLengthThatLiesIsRefused() throws {
        for body in ["50 path=x\n", "3 a=b\n", "12 path=abc\u{0}", "10 pathabc\n", "x path=y\n", "7 path="] {
            var raw = RawTar()
            raw.rawPax(Array(body.utf8))
            raw.header(name: "x")
            raw.end()
            expectError(.invalidFormat, mentioning: "pax record") { _ = try entries(raw) }
        }
    }

    @Test func paxValueGarbageIsRefused() throws {
        for (key, value) in [("size", "12abc"), ("uid", "-5"), ("mtime", "1.2.3"), ("gid", "0x10")] {
            var raw = RawTar()
            raw.pax([(key, value)])
            raw.header(name: "x")
            raw.end()
            expectError(.invalidFormat, mentioning: key) { _ = try entries(raw) }
        }
    }

    @Test func headerChecksumMismatchIsRefused() throws {
        var raw = RawTar()
        raw.header(name: "x", checksumDelta: 1)
        raw.end()
        expectError(.integrity, mentioning: "checksum", "offset 0") { _ = try entries(raw) }
    }

    @Test func everyFlippedHeaderBitIsCaught() throws {
        var raw = RawTar()
        raw.header(name: "file", size: 4)
        raw.data([1, 2, 3, 4])
        raw.end()
        for bit in stride(from: 0, to: 512 * 8, by: 37) {
            var bytes = raw.bytes
            bytes[bit / 8] ^= UInt8(1 << (bit % 8))
            // A flip anywhere in the header changes the sum (or the checksum field itself).
            do {
                let read = try readTar(bytes)
                Issue.record("flipped bit \(bit) went unnoticed: \(read.map(\.entry.path))")
            } catch let error as ArcaError {
                #expect([.integrity, .invalidFormat].contains(error.code), "bit \(bit): \(error)")
            }
        }
    }

    @Test func truncatedHeaderIsRefused() throws {
        var raw = RawTar()
        raw.header(name: "a", size: 1)
        raw.data([1])
        raw.header(name: "b")
        for cut in [100, 511] {
            let bytes = Array(raw.bytes.prefix(1024 + cut))
            expectError(.invalidFormat, mentioning: "tar header at offset 1024", "truncated") { _ = try readTar(bytes) }
        }
    }

    @Test func truncatedDataIsRefused() throws {
        var raw = RawTar()
        raw.header(name: "payload", size: 2000)
        raw.data(pseudoRandomBytes(2000))
        for cut in [512, 600, 2512 - 1] {
            let bytes = Array(raw.bytes.prefix(cut))
            expectError(.invalidFormat, mentioning: "payload", "truncated") { _ = try readTar(bytes) }
        }
        // Skipping unread data also notices the truncation.
        let reader = TarReader(MemorySource(Array(raw.bytes.prefix(1000))))
        _ = try reader.next()
        expectError(.invalidFormat, mentioning: "payload", "truncated") { _ = try reader.next() }
    }

    @Test func truncationAtEveryBlockBoundaryIsCleanOrAnError() throws {
        let tar = try makeTar([(TarEntry(path: "a", type: .regular, size: 700), pseudoRandomBytes(700)),
                               (TarEntry(path: String(repeating: "l", count: 150), type: .regular, modificationTime: TarTime(seconds: 1, nanoseconds: 1)), [])])
        for cut in stride(from: 0, through: tar.count, by: 64) {
            do {
                _ = try readTar(Array(tar.prefix(cut)))
                #expect(cut % 512 == 0, "cut at \(cut) was accepted")
            } catch let error as ArcaError {
                #expect(error.code == .invalidFormat, "cut \(cut): \(error)")
            }
        }
    }

    @Test func extendedHeaderWithoutEntryIsRefused() throws {
        var raw = RawTar()
        raw.pax([("path", "x")])
        raw.end()
        expectError(.invalidFormat, mentioning: "extended header") { _ = try entries(raw) }
    }

    @Test func loneZeroBlockIsRefused() throws {
        var raw = RawTar()
        raw.bytes += [UInt8](repeating: 0, count: 512)
        raw.header(name: "hidden")
        raw.end()
        expectError(.invalidFormat, mentioning: "lone zero block") { _ = try entries(raw) }
    }

    @Test func tooManyEntriesAreRefused() throws {
        var raw = RawTar()
        for index in 0..<6 { raw.header(name: "f\(index)") }
        raw.end()
        expectError(.limitExceeded, mentioning: "5 entries", "maxEntries") { _ = try entries(raw, limits: ArchiveLimits(maxEntries: 5)) }
    }

    @Test func pathOverMaxPathLengthIsRefused() throws {
        let name = (0..<30).map { _ in String(repeating: "p", count: 20) }.joined(separator: "/")
        var raw = RawTar()
        raw.pax([("path", name)])
        raw.header(name: "x")
        raw.end()
        expectError(.limitExceeded, mentioning: "629 bytes", "512-byte maxPathLength") {
            _ = try entries(raw, limits: ArchiveLimits(maxPathLength: 512))
        }
    }

    @Test func xattrsOverMaxXattrSizeAreRefused() throws {
        var raw = RawTar()
        raw.pax([("SCHILY.xattr.user.big", String(repeating: "v", count: 3000))])
        raw.header(name: "x")
        raw.end()
        expectError(.limitExceeded, mentioning: "maxXattrSize") { _ = try entries(raw, limits: ArchiveLimits(maxXattrSize: 1024)) }
    }

    @Test func sizeFieldWithGarbageDigitsIsRefused() throws {
        for field in ["0000001x234\0", "00000009999\0", "12 34\0\0\0\0\0\0\0"] {
            var raw = RawTar()
            raw.header(name: "garbage", sizeField: Array(field.utf8))
            raw.end()
            expectError(.invalidFormat, mentioning: "size field", "garbage") { _ = try entries(raw) }
        }
    }

    @Test func negativeBase256SizeIsRefused() throws {
        var raw = RawTar()
        raw.header(name: "negative", sizeField: [UInt8](repeating: 0xff, count: 12))
        raw.end()
        expectError(.invalidFormat, mentioning: "size field", "negative") { _ = try entries(raw) }
    }

    @Test func overflowingBase256SizeIsRefused() throws {
        var raw = RawTar()
        raw.header(name: "overflow", sizeField: [0x80, 0x7f] + [UInt8](repeating: 0xff, count: 10))
        raw.end()
        expectError(.invalidFormat, mentioning: "size field", "overflows") { _ = try entries(raw) }
    }

    @Test func sizeOverTheLayerLimitIsRefusedEarly() throws {
        var raw = RawTar()
        raw.pax([("size", "999999999999999")])
        raw.header(name: "big")
        raw.end()
        expectError(.limitExceeded, mentioning: "big", "maxLayerSize") { _ = try entries(raw) }
    }

    @Test func dataOnHeaderOnlyTypesIsRefused() throws {
        var raw = RawTar()
        raw.header(name: "dir/", type: "5", size: 512)
        raw.data([UInt8](repeating: 0x41, count: 512))
        raw.end()
        expectError(.invalidFormat, mentioning: "dir", "only regular files carry data") { _ = try entries(raw) }
    }

    @Test func unsupportedTypesAndSparseFilesAreRefused() throws {
        var raw = RawTar()
        raw.header(name: "sparse", type: "S")
        raw.end()
        expectError(.unsupported, mentioning: "'S'") { _ = try entries(raw) }
        var pax = RawTar()
        pax.pax([("GNU.sparse.major", "1")])
        pax.header(name: "s2")
        pax.end()
        expectError(.unsupported, mentioning: "sparse") { _ = try entries(pax) }
    }

    @Test func nonUTF8NamesAreRefused() throws {
        var raw = RawTar()
        raw.rawPax(PaxRecords.encode([PaxRecords.Record(key: "path", value: [0x66, 0xff, 0xfe])]))
        raw.header(name: "x")
        raw.end()
        expectError(.invalidFormat, mentioning: "UTF-8") { _ = try entries(raw) }
    }

    @Test func errorMessagesEscapeControlCharacters() throws {
        var raw = RawTar()
        raw.header(name: "../\nforged line")
        raw.end()
        let error = expectError(.unsafePath, mentioning: "\\n") { _ = try entries(raw) }
        #expect(error?.message.contains("\n") == false)
    }
}

@Suite struct TarStreamEndTests {
    @Test func globalHeadersCannotAccumulatePastTheLimit() throws {
        var raw = RawTar()
        for index in 0..<5 {
            raw.pax([("comment\(index)", String(repeating: "c", count: 1500))], global: true)
            raw.header(name: "f\(index)")
        }
        raw.end()
        expectError(.limitExceeded, mentioning: "global pax headers", "maxHeaderSize") {
            _ = try readTar(raw.bytes, limits: ArchiveLimits(maxHeaderSize: 4096))
        }
    }

    @Test func drainReadsPaddingAndVerifiesTheGzipTrailer() throws {
        // Padding after the end marker (GNU tar pads to 10 KiB records; here 1 MiB, so the
        // gzip trailer lies well beyond what next() needs to read).
        var tar = try makeTar([file("a", "hello")])
        let archiveSize = Int64(tar.count)
        tar += [UInt8](repeating: 0, count: 1 << 20)
        let sink = MemorySink()
        let gzip = LayerCompression.gzip.compressing(sink)
        try gzip.write(tar)
        try gzip.finish()

        let reader = TarReader(LayerCompression.gzip.decompressing(MemorySource(sink.bytes)))
        while try reader.next() != nil {}
        #expect(reader.offset >= archiveSize && reader.offset < Int64(tar.count))
        let before = reader.offset
        #expect(try reader.drain() == Int64(tar.count) - before)
        #expect(reader.offset == Int64(tar.count))

        // A corrupt CRC in the gzip trailer only shows once the stream is read to its end.
        var corrupt = sink.bytes
        corrupt[corrupt.count - 6] ^= 0xff
        let second = TarReader(LayerCompression.gzip.decompressing(MemorySource(corrupt)))
        #expect(try second.next()?.path == "a")
        #expect(try second.next() == nil)
        expectError(.invalidFormat, mentioning: "gzip", "incorrect data check") { try second.drain() }
    }
}

@Suite struct TarMutationTests {
    /// Random byte changes anywhere in a tar with pax, GNU long-name and data regions: every
    /// outcome is entries or an `ArcaError`, never a crash, a hang or another error type.
    @Test func randomMutationsGiveEntriesOrErrors() throws {
        let tar = try makeTar([
            (TarEntry(path: String(repeating: "n", count: 150), type: .regular, modificationTime: TarTime(seconds: 5, nanoseconds: 7),
                      size: 700, xattrs: ["user.a": [1, 2]]), pseudoRandomBytes(700)),
            (TarEntry(path: "dir", type: .directory), []),
            (TarEntry(path: "dir/link", type: .symlink, linkTarget: String(repeating: "t", count: 120)), []),
        ])
        var state: UInt64 = 0x1234_5678
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        var errors = 0
        for _ in 0..<400 {
            var bytes = tar
            for _ in 0..<(1 + next() % 3) { bytes[next() % bytes.count] = UInt8(truncatingIfNeeded: next()) }
            do {
                _ = try readTar(bytes)
            } catch is ArcaError {
                errors += 1
            }
        }
        #expect(errors > 100)
    }
}
