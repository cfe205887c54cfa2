import ArcaCore
import ArcaCrypto
@testable import ArcaShield

/// A small deterministic PRNG (SplitMix64) so random tests repeat exactly.
struct SeededRandom: RandomNumberGenerator {
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

/// Deterministic content: `count` bytes derived from `seed`.
func content(_ seed: UInt64, _ count: Int) -> [UInt8] {
    var rng = SeededRandom(seed: seed)
    return (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
}

/// True when `needle` occurs in `haystack`.
func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, needle.count <= haystack.count else { return needle.isEmpty }
    let first = needle[0]
    var i = 0
    while i <= haystack.count - needle.count {
        if haystack[i] == first, haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
        i += 1
    }
    return false
}

func fixedKey(_ byte: UInt8 = 0x42) throws -> MasterKey {
    try MasterKey(bytes: [UInt8](repeating: byte, count: 32))
}

/// A tree of every entry kind, both classes, and sizes at the chunk boundaries (4 KiB chunks).
struct SampleTree {
    static let chunkSize = 4096
    static let marker = Array("ARCA-MARKER-5d1e9b7c2f".utf8)
    static let secretName = "zz-secret-name-q8x.cfg"
    static let secretSize = 12_345

    var inputs: [ShieldInput] = []
    var contents: [String: [UInt8]] = [:]

    /// `variant` changes the content of one encrypted file (an "older seal" of the same image).
    init(variant: UInt64 = 0) {
        var secret = content(99 + variant, Self.secretSize)
        secret.replaceSubrange(5000..<(5000 + Self.marker.count), with: Self.marker)
        let files: [(String, ProtectionClass, [UInt8])] = [
            ("/app/a-small.txt", .encrypted, content(1, 100)),
            ("/app/b-exact.bin", .encrypted, content(2, 4096)),
            ("/app/c-plus-one.bin", .encrypted, content(3, 4097)),
            ("/app/d-two.bin", .encrypted, content(4, 8192)),
            ("/app/g-empty", .encrypted, []),
            ("/app/" + Self.secretName, .encrypted, secret),
            ("/bin/tool", .authenticated, content(5, 10_000)),
            ("/empty", .authenticated, []),
            ("/etc/one-chunk", .authenticated, content(6, 4096)),
            ("/etc/plus-one", .authenticated, content(7, 4097)),
        ]
        let mtime = Timestamp(seconds: 1_700_000_000, nanoseconds: 123_456_789)
        var entries: [ShieldInput] = []
        for (path, protection, bytes) in files {
            contents[path] = bytes
            var entry = IndexEntry(path: path, type: .regular, protection: protection, mode: 0o644, uid: 1000, gid: 1000,
                                   mtime: mtime, size: UInt64(bytes.count))
            if path == "/bin/tool" {
                entry.mode = 0o4755
                entry.xattrs = [ExtendedAttribute(name: "security.capability", value: [1, 0, 0, 2]),
                                ExtendedAttribute(name: "user.note", value: Array("tool".utf8))]
            }
            entries.append(ShieldInput(entry: entry, content: MemoryBytes(bytes)))
        }
        func add(_ entry: IndexEntry) { entries.append(ShieldInput(entry: entry)) }
        add(IndexEntry(path: "/", type: .directory, mode: 0o755, mtime: mtime))
        add(IndexEntry(path: "/app", type: .directory, protection: .encrypted, mode: 0o750, uid: 1000, mtime: mtime))
        add(IndexEntry(path: "/app/e-link", type: .symlink, protection: .encrypted, mode: 0o777, linkTarget: "a-small.txt"))
        add(IndexEntry(path: "/app/f-hard", type: .hardlink, protection: .encrypted, linkTarget: "/app/a-small.txt"))
        add(IndexEntry(path: "/bin", type: .directory, mode: 0o755))
        add(IndexEntry(path: "/bin/tool-hard", type: .hardlink, linkTarget: "/bin/tool"))
        add(IndexEntry(path: "/dev", type: .directory, mode: 0o755))
        add(IndexEntry(path: "/dev/fifo", type: .fifo, mode: 0o600))
        add(IndexEntry(path: "/dev/null", type: .characterDevice, mode: 0o666, deviceMajor: 1, deviceMinor: 3))
        add(IndexEntry(path: "/dev/sda", type: .blockDevice, mode: 0o660, gid: 6, deviceMajor: 8, deviceMinor: 0))
        add(IndexEntry(path: "/etc", type: .directory, mode: 0o755, mtime: Timestamp(seconds: -5, nanoseconds: 0)))
        add(IndexEntry(path: "/etc/sh", type: .symlink, mode: 0o777, linkTarget: "/bin/tool"))
        inputs = entries.sorted { $0.entry.path.utf8.lexicographicallyPrecedes($1.entry.path.utf8) }
    }

    /// Seals the tree; returns index and blob bytes.
    func seal(key: MasterKey? = nil, chunkSize: Int = SampleTree.chunkSize) throws -> (index: SealedIndex, blob: [UInt8]) {
        let sink = MemorySink()
        let output = try ShieldWriter.write(inputs, masterKey: key ?? fixedKey(), chunkSize: chunkSize, blob: sink)
        return (output.index, sink.bytes)
    }
}

/// Opens a sealed shield for reading with the fixed key.
func openShield(_ index: [UInt8], _ blob: [UInt8], root: Hash256? = nil, key: MasterKey? = nil) throws -> ShieldReader {
    let k = try key ?? fixedKey()
    let parsed = try ShieldIndex.parse(index, expectedRoot: root ?? ChunkHasher.digest(index), masterKey: k)
    return try ShieldReader(index: parsed, masterKey: k, blob: MemoryBytes(blob))
}
