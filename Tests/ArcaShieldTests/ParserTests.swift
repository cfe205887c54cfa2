import ArcaCore
import ArcaCrypto
@testable import ArcaShield
import Testing

/// Hostile indexes: crafted violations of every rule, and random mutations. Errors, never crashes.
@Suite struct ParserTests {
    /// A public-only index holding `entries` encoded as given (no validation on the way out).
    func rawIndex(_ entries: [IndexEntry], count: UInt32? = nil, chunkSize: UInt32 = 4096, trailing: [UInt8] = [],
                  streams: [(UInt64, Hash256)] = []) -> [UInt8] {
        var body = ByteWriter()
        body.u32(count ?? UInt32(entries.count))
        for entry in entries { EntryCodec.encode(entry, to: &body) }
        body.raw(trailing)
        var header = ByteWriter()
        header.raw(Array("ARCASHIX".utf8))
        header.u16(2)
        header.u16(0)
        header.u32(chunkSize)
        header.u64(UInt64(body.bytes.count))
        header.u64(0)
        header.u32(UInt32(streams.count))
        header.u32(0)
        for (count, id) in streams {
            header.u64(count)
            header.hash(id)
        }
        return header.bytes + body.bytes
    }

    func rejection(_ bytes: [UInt8]) -> String? {
        do {
            _ = try ShieldIndex.parseUnverified(bytes, masterKey: nil)
            return nil
        } catch let error as ArcaError {
            return error.message
        } catch {
            return "unexpected error type \(error)"
        }
    }

    let file = IndexEntry(path: "/a", type: .regular, size: 5, chunkDigests: [ChunkHasher.digest([1, 2, 3, 4, 5])])

    @Test func aWellFormedRawIndexParses() throws {
        let parsed = try ShieldIndex.parseUnverified(rawIndex([IndexEntry(path: "/", type: .directory), file]), masterKey: nil)
        #expect(parsed.publicEntries.map(\.path) == ["/", "/a"])
    }

    @Test func theSmallestEntriesParse() throws {
        // 49-byte entries (one-byte paths): the pre-allocation bound must not reject them.
        let root = IndexEntry(path: "/", type: .directory)
        var minimal = ByteWriter()
        EntryCodec.encode(root, to: &minimal)
        #expect(minimal.bytes.count == 49)
        #expect(try ShieldIndex.parseUnverified(rawIndex([root]), masterKey: nil).publicEntries == [root])
        let many = (0..<26).map { IndexEntry(path: "/" + String(UnicodeScalar(UInt8(97 + $0))), type: .fifo) }
        #expect(try ShieldIndex.parseUnverified(rawIndex(many), masterKey: nil).publicEntries.count == 26)
    }

    @Test(arguments: ["", "a", "/a/", "//a", "/a//b", "/./a", "/a/..", "/a/.", "/a\u{0}b", "/" + String(repeating: "x", count: 256)])
    func badPathsAreRejected(_ path: String) {
        var entry = file
        entry.path = path
        #expect(rejection(rawIndex([entry])) != nil)
    }

    @Test func nonUTF8PathsAreRejected() {
        var bytes = rawIndex([IndexEntry(path: "/ab", type: .directory)])
        bytes[40 + 4 + 2 + 1] = 0xFF
        #expect(rejection(bytes)?.contains("UTF-8") == true)
    }

    @Test func everyEntryRuleIsChecked() {
        func bad(_ change: (inout IndexEntry) -> Void) -> IndexEntry {
            var entry = file
            change(&entry)
            return entry
        }
        let cases: [(String, [IndexEntry])] = [
            ("unsorted", [IndexEntry(path: "/b", type: .directory), IndexEntry(path: "/a", type: .directory)]),
            ("duplicate", [IndexEntry(path: "/a", type: .directory), IndexEntry(path: "/a", type: .directory)]),
            ("mode", [bad { $0.mode = 0o10000 }]),
            ("nanoseconds", [bad { $0.mtime.nanoseconds = 1_000_000_000 }]),
            ("device numbers", [bad { $0.deviceMajor = 1 }]),
            ("link target", [bad { $0.linkTarget = "x" }]),
            ("class", [bad { $0.protection = .encrypted; $0.chunkDigests = [] }]),
            ("size", [IndexEntry(path: "/d", type: .directory, size: 1)]),
            ("symlink", [IndexEntry(path: "/l", type: .symlink)]),
            ("hardlink", [IndexEntry(path: "/h", type: .hardlink, linkTarget: "/missing")]),
            ("hardlink", [IndexEntry(path: "/d", type: .directory), IndexEntry(path: "/h", type: .hardlink, linkTarget: "/d")]),
            ("xattr", [bad { $0.xattrs = [ExtendedAttribute(name: "user.b", value: []), ExtendedAttribute(name: "user.a", value: [])] }]),
            ("xattr", [bad { $0.xattrs = [ExtendedAttribute(name: "", value: [])] }]),
            ("xattr", [bad { $0.xattrs = Array(repeating: ExtendedAttribute(name: "user.x", value: []), count: 129) }]),
        ]
        for (what, entries) in cases {
            #expect(rejection(rawIndex(entries)) != nil, "\(what) was accepted")
        }
    }

    @Test func hostileCountsAndSizesFailBeforeAllocating() {
        // 4 billion entries promised, a handful of bytes given.
        #expect(rejection(rawIndex([file], count: UInt32.max))?.contains("limit") == true)
        #expect(rejection(rawIndex([file], count: 1 << 20))?.contains("cannot fit") == true)
        // A 1 TiB file whose 16M-digest table is not there.
        var huge = file
        huge.size = 1 << 40
        #expect(rejection(rawIndex([huge]))?.contains("truncated") == true)
        huge.size = (1 << 40) + 1
        #expect(rejection(rawIndex([huge]))?.contains("limit") == true)
        // Section lengths that overflow when added.
        var bytes = rawIndex([file])
        bytes.replaceSubrange(16..<24, with: [UInt8](repeating: 0xFF, count: 8))
        #expect(rejection(bytes)?.contains("truncated") == true)
        bytes = rawIndex([file])
        bytes.replaceSubrange(24..<32, with: [UInt8](repeating: 0xFF, count: 8))
        #expect(rejection(bytes)?.contains("truncated") == true)
        // An xattr value length of 4 GiB.
        var entry = file
        entry.xattrs = [ExtendedAttribute(name: "user.a", value: [1])]
        bytes = rawIndex([entry])
        let at = 40 + 4 + 2 + 2 + 2 + 12 + 12 + 8 + 8 + 2 + 2 + 1 + 6
        bytes.replaceSubrange(at..<(at + 4), with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(rejection(bytes)?.contains("xattr") == true)
    }

    @Test func headerRulesAreChecked() {
        #expect(rejection(rawIndex([file], trailing: [0]))?.contains("unexpected bytes") == true)
        #expect(rejection(rawIndex([file], chunkSize: 3000))?.contains("chunk size") == true)
        var bytes = rawIndex([file])
        bytes[37] = 1  // second reserved field
        #expect(rejection(bytes)?.contains("reserved") == true)
        let id = ChunkHasher.digest([7])
        // Streams without an encrypted section, a stream of no chunks, a repeated stream id.
        #expect(rejection(rawIndex([file], streams: [(1, id)]))?.contains("no encrypted section") == true)
        #expect(rejection(rawIndex([file], streams: [(0, id)]))?.contains("chunks") == true)
        #expect(rejection(rawIndex([file], streams: [(1, id), (2, id)]))?.contains("repeats") == true)
        // A stream count the bytes cannot hold, and one over the limit.
        bytes = rawIndex([file])
        bytes.replaceSubrange(32..<36, with: [0, 0, 0x10, 0])
        #expect(rejection(bytes)?.contains("do not fit") == true)
        bytes.replaceSubrange(32..<36, with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(rejection(bytes)?.contains("limit") == true)
        bytes = rawIndex([file])
        bytes[9] = 1
        #expect(rejection(bytes)?.contains("version 1 is not supported") == true)
        #expect(rejection(bytes + [UInt8](repeating: 0, count: 0)) != nil)
        #expect(rejection([]) != nil)
    }

    /// Random mutations of a valid index. With the key, every real change must be rejected (the
    /// encrypted section authenticates the header and public part); without it, no crash.
    @Test func randomMutationsNeverCrash() throws {
        let (index, _) = try SampleTree().seal()
        let key = try fixedKey()
        var rng = SeededRandom(seed: 2024)
        var accepted = 0
        for iteration in 0..<1500 {
            var bytes = index.bytes
            switch iteration % 5 {
            case 0:
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
                }
            case 1:
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            case 2:
                bytes.removeSubrange(Int.random(in: 0..<bytes.count, using: &rng)...)
            case 3:
                bytes.insert(contentsOf: content(UInt64(iteration), Int.random(in: 1...16, using: &rng)),
                             at: Int.random(in: 0...bytes.count, using: &rng))
            default:
                // A big-endian field set to an extreme value somewhere in the header or public part.
                let at = Int.random(in: 0..<(bytes.count - 4200), using: &rng)
                let value: [UInt8] = [[0xFF, 0xFF, 0xFF, 0xFF], [0x7F, 0xFF, 0xFF, 0xFF], [0, 0, 0, 0], [0x80, 0, 0, 0]][iteration % 4]
                bytes.replaceSubrange(at..<(at + 4), with: value)
            }
            do {
                let parsed = try ShieldIndex.parseUnverified(bytes, masterKey: key)
                #expect(bytes == index.bytes, "a changed index parsed with the key (iteration \(iteration))")
                #expect(parsed.root == index.root)
            } catch is ArcaError {}
            if (try? ShieldIndex.parseUnverified(bytes, masterKey: nil)) != nil { accepted += 1 }
        }
        print("random index mutations: \(accepted) of 1500 parse without the key (public part only), 0 with it")
    }

    @Test func parsingAndRebuildingGivesTheSameBytes() throws {
        let (index, blob) = try SampleTree().seal()
        let reader = try openShield(index.bytes, blob)
        #expect(try ShieldIndexBuilder.build(entries: reader.index.entries, streams: reader.index.streams, masterKey: fixedKey(),
                                             chunkSize: SampleTree.chunkSize) == index)
        var chunk = [UInt8](repeating: 0, count: SampleTree.chunkSize)
        try chunk.withUnsafeMutableBytes { try reader.readBlobChunk(stream: 0, 0, into: $0) }
        #expect(throws: ArcaError.self) { try chunk.withUnsafeMutableBytes { try reader.readBlobChunk(stream: 1, 0, into: $0) } }
    }

    /// Stream numbers and offsets of encrypted entries must fall inside the stream table.
    @Test func encryptedEntriesMustLieInsideTheirStream() throws {
        let key = try fixedKey()
        let stream = StreamInfo(chunkCount: 1, streamId: ChunkHasher.digest([1]), size: 100)
        func build(_ entry: IndexEntry) -> ArcaError? {
            do {
                _ = try ShieldIndexBuilder.build(entries: [entry], streams: [stream], masterKey: key, chunkSize: 4096)
                return nil
            } catch let error as ArcaError { return error } catch { return ArcaError(.io, "\(error)") }
        }
        #expect(build(IndexEntry(path: "/a", type: .regular, protection: .encrypted, size: 60, streamOffset: 40)) == nil)
        #expect(build(IndexEntry(path: "/a", type: .regular, protection: .encrypted, size: 60, streamOffset: 41))?.message.contains("outside") == true)
        #expect(build(IndexEntry(path: "/a", type: .regular, protection: .encrypted, size: 1, stream: 1))?.message.contains("1 streams") == true)
        #expect(build(IndexEntry(path: "/a", type: .regular, protection: .encrypted, size: 0, streamOffset: 3))?.message.contains("empty") == true)
        #expect(build(IndexEntry(path: "/a", type: .directory, protection: .encrypted, stream: 1)) != nil)
    }

    @Test func theWriterRefusesBadInput() throws {
        let key = try fixedKey()
        func write(_ inputs: [ShieldInput]) -> ArcaError? {
            do {
                _ = try ShieldWriter.write(inputs, masterKey: key, chunkSize: 4096, blob: MemorySink())
                return nil
            } catch let error as ArcaError {
                return error
            } catch {
                return ArcaError(.io, "\(error)")
            }
        }
        let a = ShieldInput(entry: IndexEntry(path: "/a", type: .regular, protection: .encrypted, size: 3), content: MemoryBytes([1, 2, 3]))
        let b = ShieldInput(entry: IndexEntry(path: "/b", type: .directory))
        #expect(write([b, a])?.message.contains("not sorted") == true)
        #expect(write([a, a])?.message.contains("not sorted") == true)
        #expect(write([ShieldInput(entry: IndexEntry(path: "a", type: .directory))])?.code == .unsafePath)
        #expect(write([ShieldInput(entry: IndexEntry(path: "/a/../b", type: .directory))])?.code == .unsafePath)
        #expect(write([ShieldInput(entry: IndexEntry(path: "/a", type: .regular, size: 3))])?.message.contains("no content") == true)
        #expect(write([ShieldInput(entry: IndexEntry(path: "/a", type: .regular, protection: .encrypted, size: 4), content: MemoryBytes([1, 2, 3]))])?.message.contains("truncated") == true)
        #expect(write([ShieldInput(entry: IndexEntry(path: "/a", type: .regular, protection: .encrypted, size: 2), content: MemoryBytes([1, 2, 3]))])?.message.contains("longer") == true)
        #expect(write([ShieldInput(entry: IndexEntry(path: "/a", type: .regular, size: 2), content: MemoryBytes([1, 2, 3]))])?.message.contains("longer") == true)
        #expect(write([ShieldInput(entry: IndexEntry(path: "/h", type: .hardlink, protection: .encrypted, linkTarget: "/x"))])?.message.contains("hardlink") == true)
        // A hardlink across classes would leak an encrypted name into the public part.
        #expect(write([a, ShieldInput(entry: IndexEntry(path: "/h", type: .hardlink, linkTarget: "/a"))])?.message.contains("same class") == true)
        #expect(throws: ArcaError.self) {
            try ShieldIndexBuilder.build(entries: [IndexEntry(path: "/a", type: .regular, size: 5000, chunkDigests: [.zero])],
                                         streams: [], masterKey: key, chunkSize: 4096)
        }
    }
}
