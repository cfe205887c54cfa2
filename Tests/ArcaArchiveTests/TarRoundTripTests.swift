import ArcaCore
import Testing
@testable import ArcaArchive

@Suite struct TarRoundTripTests {
    static let time = TarTime(seconds: 1_700_000_000, nanoseconds: 123_456_789)

    static var everyType: [(TarEntry, [UInt8])] {
        [
            (TarEntry(path: ".", type: .directory, mode: 0o755), []),
            (TarEntry(path: "etc", type: .directory, mode: 0o755, uid: 0, gid: 0, userName: "root", groupName: "root"), []),
            (TarEntry(path: "etc/passwd", type: .regular, mode: 0o644, uid: 0, gid: 0, modificationTime: TarTime(seconds: 1000),
                      size: 11), Array("root:x:0:0\n".utf8)),
            (TarEntry(path: "etc/empty", type: .regular, mode: 0o600), []),
            (TarEntry(path: "bin/su", type: .regular, mode: 0o4755, size: 600), pseudoRandomBytes(600)),
            (TarEntry(path: "tmp", type: .directory, mode: 0o1777), []),
            (TarEntry(path: "etc/alias", type: .hardlink, mode: 0o644, linkTarget: "etc/passwd"), []),
            (TarEntry(path: "lib", type: .symlink, mode: 0o777, linkTarget: "usr/lib"), []),
            (TarEntry(path: "dev/null", type: .characterDevice, mode: 0o666, deviceMajor: 1, deviceMinor: 3), []),
            (TarEntry(path: "dev/sda", type: .blockDevice, mode: 0o660, gid: 6, deviceMajor: 8, deviceMinor: 0), []),
            (TarEntry(path: "run/pipe", type: .fifo, mode: 0o600), []),
        ]
    }

    @Test func everyEntryTypeRoundTrips() throws {
        let input = Self.everyType
        let tar = try makeTar(input)
        #expect(tar.count % 512 == 0)
        let output = try readTar(tar)
        #expect(output.count == input.count)
        for (written, read) in zip(input, output) {
            #expect(read.entry == written.0)
            #expect(read.content == written.1)
        }
    }

    @Test func writingIsDeterministic() throws {
        #expect(try makeTar(Self.everyType) == makeTar(Self.everyType))
    }

    @Test func longNamesAndLinksUsePax() throws {
        let longName = (0..<30).map { "dir\($0)xxxxx" }.joined(separator: "/") // ~370 chars
        let name300 = String(repeating: "n", count: 300)
        let splittable = String(repeating: "p", count: 120) + "/" + String(repeating: "q", count: 90)
        let longLink = "/" + String(repeating: "t", count: 250)
        let entries: [(TarEntry, [UInt8])] = [
            (TarEntry(path: name300, type: .regular, size: 3), [1, 2, 3]),
            (TarEntry(path: longName, type: .directory, mode: 0o700), []),
            (TarEntry(path: splittable, type: .regular, size: 1), [9]),
            (TarEntry(path: "l", type: .symlink, mode: 0o777, linkTarget: longLink), []),
            (TarEntry(path: "h", type: .hardlink, linkTarget: name300), []),
        ]
        let tar = try makeTar(entries)
        let read = try readTar(tar)
        #expect(read.map(\.entry) == entries.map(\.0))
        #expect(read[0].content == [1, 2, 3])
        // The 210-byte splittable name fits ustar prefix+name: no pax header before it.
        #expect(!String(decoding: tar, as: UTF8.self).contains("path=" + splittable))
        #expect(String(decoding: tar, as: UTF8.self).contains("path=" + name300))
    }

    @Test func nanosecondTimesXattrsIdsAndNamesRoundTrip() throws {
        let entry = TarEntry(path: "données/ファイル.txt", type: .regular, mode: 0o640, uid: 3_000_000, gid: 70_000_000,
                             userName: "a-very-long-user-name-over-32-bytes-long", groupName: "grüppe",
                             modificationTime: Self.time, size: 4, linkTarget: "",
                             xattrs: ["user.binary": [0, 1, 2, 0xff, 0x0a], "security.capability": [1, 0, 0, 2],
                                      "user.empty": []])
        let negative = TarEntry(path: "old", type: .regular, modificationTime: TarTime(seconds: -2, nanoseconds: 500_000_000))
        let far = TarEntry(path: "far", type: .regular, modificationTime: TarTime(seconds: 1 << 40))
        let read = try readTar(makeTar([(entry, Array("data".utf8)), (negative, []), (far, [])]))
        #expect(read.map(\.entry) == [entry, negative, far])
        #expect(read[0].content == Array("data".utf8))
    }

    @Test func paxRecordsAreSorted() throws {
        let entry = TarEntry(path: "f", type: .regular, modificationTime: Self.time,
                             xattrs: ["user.b": [1], "user.a": [2], "security.selinux": Array("x".utf8)])
        let text = String(decoding: try makeTar([(entry, [])]), as: UTF8.self)
        let keys = ["SCHILY.xattr.security.selinux", "SCHILY.xattr.user.a", "SCHILY.xattr.user.b", "mtime="]
        let positions = keys.compactMap { text.firstRange(of: $0)?.lowerBound }
        #expect(positions.count == keys.count)
        #expect(positions == positions.sorted())
    }

    @Test func largeSizeHeaderEncodesAndDecodes() throws {
        let size: Int64 = 9 << 30
        let entry = TarEntry(path: "huge.bin", type: .regular, size: size)
        let (header, records) = try TarHeaderEncoder.encode(entry)
        #expect(records.map(\.key) == ["size"])
        let pax = PaxRecords.encode(records)
        var bytes = try TarHeaderEncoder.paxHeader(for: entry, size: Int64(pax.count))
        bytes += pax + [UInt8](repeating: 0, count: (512 - pax.count % 512) % 512) + header
        let reader = TarReader(MemorySource(bytes))
        let read = try #require(try reader.next())
        #expect(read.size == size)
        // The data is missing: reading it is a truncation error, not a crash.
        expectError(.invalidFormat, mentioning: "truncated", "huge.bin") { _ = try reader.contentSource().readAll(limit: 1 << 20, what: "x") }
    }

    @Test func base256SizeIsRead() throws {
        var raw = RawTar()
        let size: Int64 = 10 << 30
        var field = [UInt8](repeating: 0, count: 12)
        field[0] = 0x80
        for index in 0..<8 { field[11 - index] = UInt8(truncatingIfNeeded: size >> (8 * Int64(index))) }
        raw.header(name: "big", sizeField: field)
        let entry = try #require(try TarReader(MemorySource(raw.bytes)).next())
        #expect(entry.size == size)
    }

    @Test func clampsModificationTimes() throws {
        let entries: [(TarEntry, [UInt8])] = [
            (TarEntry(path: "new", type: .regular, modificationTime: TarTime(seconds: 2_000_000_000, nanoseconds: 5)), []),
            (TarEntry(path: "old", type: .regular, modificationTime: TarTime(seconds: 100)), []),
        ]
        let read = try readTar(makeTar(entries, options: TarWriterOptions(clampModificationTime: 1_000_000)))
        #expect(read[0].entry.modificationTime == TarTime(seconds: 1_000_000))
        #expect(read[1].entry.modificationTime == TarTime(seconds: 100))
    }

    @Test func contentMustMatchTheSize() throws {
        let writer = TarWriter(sink: MemorySink())
        expectError(.integrity, mentioning: "short", "\"a\"") {
            try writer.append(TarEntry(path: "a", type: .regular, size: 10), content: MemorySource([1, 2, 3]))
        }
        let second = TarWriter(sink: MemorySink())
        expectError(.integrity, mentioning: "longer", "\"b\"") {
            try second.append(TarEntry(path: "b", type: .regular, size: 2), content: MemorySource([1, 2, 3]))
        }
        let third = TarWriter(sink: MemorySink())
        expectError(.invalidArgument, mentioning: "symlink") {
            try third.append(TarEntry(path: "c", type: .symlink, size: 5, linkTarget: "x"), content: nil)
        }
    }

    @Test func writerNormalizesAndRefusesEscapingNames() throws {
        let read = try readTar(makeTar([(TarEntry(path: "/abs//./x", type: .regular), [])]))
        #expect(read[0].entry.path == "abs/x")
        let writer = TarWriter(sink: MemorySink())
        expectError(.unsafePath, mentioning: "../up") { try writer.append(TarEntry(path: "../up", type: .regular), content: nil) }
    }

    @Test func reportsDataOffsets() throws {
        let sink = MemorySink()
        let writer = TarWriter(sink: sink)
        var offsets: [Int64] = []
        for (entry, content) in Self.everyType {
            try writer.append(entry, content: MemorySource(content))
            offsets.append(writer.lastDataOffset)
        }
        try writer.finish()
        let reader = TarReader(MemorySource(sink.bytes))
        var index = 0
        while let entry = try reader.next() {
            #expect(reader.dataOffset == offsets[index])
            if entry.type == .regular, entry.size > 0 {
                let start = Int(reader.dataOffset)
                #expect(Array(sink.bytes[start..<(start + Int(entry.size))]) == Self.everyType[index].1)
            }
            index += 1
        }
        #expect(index == Self.everyType.count)
    }

    @Test func partiallyReadContentIsSkipped() throws {
        let tar = try makeTar([(TarEntry(path: "a", type: .regular, size: 2000), pseudoRandomBytes(2000)),
                               (TarEntry(path: "b", type: .regular, size: 3), [7, 8, 9])])
        let reader = TarReader(MemorySource(tar))
        _ = try reader.next()
        let stale = reader.contentSource()
        _ = try stale.readExactly(10, what: "a")
        let second = try #require(try reader.next())
        #expect(second.path == "b")
        #expect(try stale.readAll(limit: 100, what: "stale").isEmpty)
        #expect(try reader.contentSource().readAll(limit: 100, what: "b") == [7, 8, 9])
        #expect(try reader.next() == nil)
        #expect(try reader.next() == nil)
    }

    @Test func endWithoutZeroBlocksAtABoundaryIsAccepted() throws {
        let tar = try makeTar([(TarEntry(path: "a", type: .regular, size: 1), [1])])
        let read = try readTar(Array(tar.dropLast(1024)))
        #expect(read.map(\.entry.path) == ["a"])
    }

    @Test func paxTimesAndBase64Helpers() throws {
        for time in [TarTime(seconds: 0), TarTime(seconds: 5, nanoseconds: 1), TarTime(seconds: -1, nanoseconds: 999_999_999),
                     TarTime(seconds: -7, nanoseconds: 0)] {
            let text = Array(PaxRecords.format(time).utf8)
            #expect(try PaxRecords.time(text, key: "mtime", entry: "t") == time)
        }
        for length in 0..<7 {
            let bytes = pseudoRandomBytes(length, seed: UInt64(length + 1))
            #expect(Base64.decode(Array(Base64.encode(bytes).utf8)) == bytes)
        }
        #expect(Base64.decode(Array("a$==".utf8)) == nil)
    }

    @Test func readsLibarchiveXattrsAndGlobalHeaders() throws {
        var raw = RawTar()
        raw.pax([("uname", "globaluser"), ("mtime", "42.5")], global: true)
        raw.pax([("LIBARCHIVE.xattr.user.na%3Dme", Base64.encode([0, 1, 2])), ("SCHILY.xattr.user.plain", "v")])
        raw.header(name: "first")
        raw.pax([("uname", "")])
        raw.header(name: "second")
        raw.end()
        let read = try readTar(raw.bytes)
        #expect(read[0].entry.xattrs == ["user.na=me": [0, 1, 2], "user.plain": Array("v".utf8)])
        #expect(read[0].entry.userName == "globaluser")
        #expect(read[0].entry.modificationTime == TarTime(seconds: 42, nanoseconds: 500_000_000))
        #expect(read[1].entry.userName == "")
        #expect(read[1].entry.xattrs.isEmpty)
    }

    @Test func readsGnuLongNamesAndOldHeaders() throws {
        let long = String(repeating: "g", count: 180) + "/file"
        let link = String(repeating: "k", count: 150)
        var raw = RawTar()
        raw.header(name: "././@LongLink", type: "L", size: long.utf8.count + 1, magic: Array("ustar  \u{0}".utf8))
        raw.data(Array(long.utf8) + [0])
        raw.header(name: "truncated", size: 2, magic: Array("ustar  \u{0}".utf8))
        raw.data([5, 6])
        raw.header(name: "././@LongLink", type: "K", size: link.utf8.count, magic: Array("ustar  \u{0}".utf8))
        raw.data(Array(link.utf8))
        raw.header(name: "sym", type: "2", linkname: "short", magic: Array("ustar  \u{0}".utf8))
        raw.header(name: "v7dir/", type: "\0", magic: [UInt8](repeating: 0, count: 8))
        raw.header(name: "contig", type: "7", size: 1)
        raw.data([1])
        raw.end()
        let read = try readTar(raw.bytes)
        #expect(read.map(\.entry.path) == [long, "sym", "v7dir", "contig"])
        #expect(read[0].content == [5, 6])
        #expect(read[1].entry.linkTarget == link)
        #expect(read[2].entry.type == .directory)
        #expect(read[3].entry.type == .regular)
    }

    @Test func acceptsSignedChecksums() throws {
        var raw = RawTar()
        raw.header(name: "caf\u{e9}")  // a byte >= 0x80 makes signed and unsigned sums differ
        var block = Array(raw.bytes[0..<512])
        let signed = TarHeader.checksums(block).signed
        let octal = Array(String(signed, radix: 8).utf8)
        for index in 0..<8 { block[148 + index] = index < 6 ? (index < 6 - octal.count ? 0x30 : octal[index - (6 - octal.count)]) : (index == 6 ? 0 : 0x20) }
        let entry = try #require(try TarReader(MemorySource(block + [UInt8](repeating: 0, count: 1024))).next())
        #expect(entry.path == "caf\u{e9}")
    }
}
