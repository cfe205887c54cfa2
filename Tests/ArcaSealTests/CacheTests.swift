import ArcaArchive
import ArcaCore
import ArcaCrypto
import ArcaOCI
import ArcaSeal
import ArcaTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The per-layer cache: hits give the same image as no cache; a policy or key change misses; a
/// corrupted, foreign or swapped entry is refused and recomputed, never trusted.
@Suite struct CacheTests {
    static func seal(_ dir: String, cache: String?, encrypt: [String] = ["/app"], key: UInt8 = 0x42, out: String = "out",
                     appText: String = "print('hello')\n", limit: UInt64 = SealOptions.defaultCacheLimit) throws -> SealResult {
        var options = try SealerTests.options(dir, encrypt: encrypt, key: MasterKey(bytes: Array(repeating: key, count: 32)))
        options.cacheDirectory = cache
        options.cacheLimit = limit
        let native = dir + "/native-" + String(appText.utf8.reduce(UInt32(7)) { $0 &* 31 &+ UInt32($1) }, radix: 16)
        let (source, image) = try FileSystem.exists(native) ? open(native) : SealerTests.nativeImage(in: native, appText: appText)
        return try Sealer(options: options).seal(image, from: source, to: OCILayout(writingTo: dir + "/" + out, tag: "sealed"))
    }

    static func open(_ native: String) throws -> (OCILayout, ResolvedImage) {
        let source = try OCILayout(readingFrom: native + "/native", tag: "native")
        return (source, try ImageResolver().resolve(source))
    }

    /// Every file under the cache root (entries and their files).
    static func files(_ root: String) throws -> [String] {
        guard FileSystem.isDirectory(root) else { return FileSystem.exists(root) ? [root] : [] }
        return try FileSystem.listDirectory(root).flatMap { try files(root + "/" + $0) }
    }

    static func mode(_ path: String) -> mode_t {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & 0o777 : 0
    }

    @Test func aHitGivesTheSameImageAsNoCache() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let cache = dir + "/cache"
            let uncached = try Self.seal(dir, cache: nil, out: "plain")
            let first = try Self.seal(dir, cache: cache, out: "first")
            let second = try Self.seal(dir, cache: cache, out: "second")
            #expect(first.cacheHits == 0 && first.cacheMisses == 3)
            #expect(second.cacheHits == 3 && second.cacheMisses == 0 && second.cacheRejected.isEmpty, "\(second.cacheRejected) \((try? Self.files(cache)) ?? [])")
            #expect(uncached.manifest.digest == first.manifest.digest && first.manifest.digest == second.manifest.digest)
            // The image from the cache verifies, encrypted chunks included.
            let source = try OCILayout(readingFrom: dir + "/second", tag: "sealed")
            _ = try SealedImageReader().verify(ImageResolver().resolve(source), from: source,
                                               masterKey: MasterKey(bytes: Array(repeating: 0x42, count: 32)))
            // Private: 0700 directories, 0600 files; and no plaintext, name or marker of an encrypted file.
            #expect(Self.mode(cache) == 0o700 && Self.mode(cache + "/v2") == 0o700)
            for file in try Self.files(cache) {
                #expect(Self.mode(file) == 0o600, "\(file)")
                let bytes = try FileSystem.readFile(file, limit: 64 << 20)
                var forms = [bytes]
                if LayerCompression.detect(Array(bytes.prefix(8))) != .none {
                    forms.append(try LayerCompression.detect(Array(bytes.prefix(8))).decompressing(MemorySource(bytes)).readAll(limit: 64 << 20, what: file))
                }
                for form in forms {
                    #expect(!contains(form, Array(SealerTests.marker.utf8)), "the marker is in \(file)")
                    #expect(!contains(form, Array(SealerTests.secretName.utf8)), "an encrypted name is in \(file)")
                }
            }
        }
    }

    @Test func aChangedLayerOnlyIsRedone() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let cache = dir + "/cache"
            _ = try Self.seal(dir, cache: cache, out: "first")
            // Another app layer (the base and top layers are the same blobs).
            let changed = try Self.seal(dir, cache: cache, out: "second", appText: "print('changed')\n")
            #expect(changed.cacheHits == 2 && changed.cacheMisses == 1)
            let fresh = try Self.seal(dir, cache: nil, out: "third", appText: "print('changed')\n")
            #expect(fresh.manifest.digest == changed.manifest.digest)
        }
    }

    /// The entries (64-hex-digit keys) under the cache's version directory.
    static func entries(_ cache: String) throws -> Set<String> {
        Set(try FileSystem.listDirectory(cache + "/v2").filter { $0.utf8.count == 64 && Hex.decode($0) != nil })
    }

    /// Past the limit, a seal removes the least recently used entries but never its own (even
    /// when they alone exceed it), and the staging directories crashed seals left a day ago.
    @Test func theLimitDropsOlderEntriesAndKeepsTheSealsOwn() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let cache = dir + "/cache"
            _ = try Self.seal(dir, cache: cache, out: "a")
            let afterA = try Self.entries(cache)
            let b = try Self.seal(dir, cache: cache, out: "b", appText: "print('b')\n")
            let afterB = try Self.entries(cache)
            #expect(b.cacheTrimmedBytes == 0 && afterA.isSubset(of: afterB) && afterB.count == afterA.count + 1,
                    "within the default limit nothing goes")

            let crashed = cache + "/v2/.staging-crashed", recent = cache + "/v2/.staging-running"
            try FileSystem.makeDirectories(crashed)
            try FileSystem.makeDirectories(recent)
            var old = [timespec(tv_sec: time(nil) - 2 * 86_400, tv_nsec: 0), timespec(tv_sec: time(nil) - 2 * 86_400, tv_nsec: 0)]
            #expect(utimensat(AT_FDCWD, crashed, &old, 0) == 0)

            // Limit 1 byte: everything but what this seal used goes (a's app layer), and the seal
            // keeps its own entries although they exceed the limit.
            let c = try Self.seal(dir, cache: cache, out: "c", appText: "print('b')\n", limit: 1)
            #expect(c.cacheHits == 3 && c.cacheTrimmedBytes > 0)
            let afterC = try Self.entries(cache)
            #expect(afterC.isSubset(of: afterB) && afterC.count == afterB.count - 1)
            #expect(afterB.subtracting(afterA).isSubset(of: afterC), "b's app layer (used by this seal) stays")
            #expect(afterB.subtracting(afterC).isSubset(of: afterA), "the one removed is a's app layer")
            #expect(!FileSystem.exists(crashed) && FileSystem.exists(recent))

            // What stayed still serves: b's image again is all hits; a's app layer is recomputed.
            let again = try Self.seal(dir, cache: cache, out: "d", appText: "print('b')\n", limit: 1)
            #expect(again.cacheHits == 3 && again.cacheMisses == 0 && again.cacheTrimmedBytes == 0)
            let backToA = try Self.seal(dir, cache: cache, out: "e", limit: 1)
            #expect(backToA.cacheHits == 2 && backToA.cacheMisses == 1)
        }
    }

    /// A runtime layer whose digest the caller knows is taken from the cache without making its
    /// tar; a wrong digest costs a recompression, never another image.
    @Test func aKnownRuntimeDigestSkipsTheTarOnAHit() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let cache = dir + "/cache"
            let first = try Self.seal(dir, cache: cache, out: "first")
            let tar = try SealerTests.runtimeTar(in: dir)
            let hashing = HashingSink()
            try FileSource(path: tar).copy(to: hashing)
            let (source, image) = try Self.open(dir + "/native-" + String(Array("print('hello')\n".utf8).reduce(UInt32(7)) { $0 &* 31 &+ UInt32($1) }, radix: 16))
            for (digest, made) in [(hashing.hexDigest(), 0), (String(repeating: "ab", count: 32), 1)] {
                let calls = Calls()
                var options = try SealerTests.options(dir)
                options.cacheDirectory = cache
                options.runtimeLayer = RuntimeLayerInput(digest: digest, tar: { calls.count.withLock { $0 += 1 }; return tar })
                let result = try Sealer(options: options).seal(image, from: source, to: OCILayout(writingTo: dir + "/again-\(made)", tag: "sealed"))
                #expect(result.manifest.digest == first.manifest.digest)
                #expect(calls.count.withLock { $0 } == made)
            }
        }
    }

    @Test func aPolicyOrKeyChangeMisses() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let cache = dir + "/cache"
            _ = try Self.seal(dir, cache: cache, out: "first")
            let policy = try Self.seal(dir, cache: cache, encrypt: ["/app", "/etc/app.conf"], out: "policy")
            #expect(policy.cacheHits == 0 && policy.cacheMisses == 3)
            let key = try Self.seal(dir, cache: cache, key: 0x43, out: "key")
            #expect(key.cacheHits == 0 && key.cacheMisses == 3)
            let again = try Self.seal(dir, cache: cache, out: "again")
            #expect(again.cacheHits == 3)
        }
    }

    @Test func corruptedOrForeignEntriesAreRecomputed() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let cache = dir + "/cache"
            let reference = try Self.seal(dir, cache: cache, out: "first")
            let entries = try FileSystem.listDirectory(cache + "/v2").filter { !$0.hasPrefix(".") }
            #expect(entries.count == 4)  // three layers and the runtime layer

            // A flipped bit in every record: refused (it no longer opens), recomputed, same image.
            for entry in entries {
                var record = try FileSystem.readFile(cache + "/v2/\(entry)/record", limit: 1 << 26)
                record[record.count / 2] ^= 0x01
                try FileSystem.writeAtomically(record, to: cache + "/v2/\(entry)/record", permissions: [.ownerReadWrite])
            }
            let flipped = try Self.seal(dir, cache: cache, out: "flipped")
            #expect(flipped.cacheHits == 0 && flipped.cacheRejected.count == 3, "\(flipped.cacheRejected)")
            #expect(flipped.manifest.digest == reference.manifest.digest)

            // A corrupted blob layer, used because the destination lacks it: caught by its digest.
            let withBlob = try #require(entries.first { FileSystem.exists(cache + "/v2/\($0)/blob.tar") })
            var blob = try FileSystem.readFile(cache + "/v2/\(withBlob)/blob.tar", limit: 1 << 26)
            blob[blob.count - 2000] ^= 0x01
            try FileSystem.writeAtomically(blob, to: cache + "/v2/\(withBlob)/blob.tar", permissions: [.ownerReadWrite])
            let corrupted = try Self.seal(dir, cache: cache, out: "corrupted")
            #expect(corrupted.cacheHits == 2 && corrupted.cacheRejected.count == 1, "\(corrupted.cacheRejected)")
            #expect(corrupted.manifest.digest == reference.manifest.digest)

            // A foreign entry: another key's record put in this key's slot does not open.
            let other = dir + "/other-cache"
            _ = try Self.seal(dir, cache: other, key: 0x43, out: "other")
            let foreign = try FileSystem.listDirectory(other + "/v2").filter { !$0.hasPrefix(".") }
            for (mine, theirs) in zip(entries, foreign) {
                try FileSystem.removeTree(cache + "/v2/\(mine)")
                try FileSystem.rename(other + "/v2/\(theirs)", to: cache + "/v2/\(mine)")
            }
            let planted = try Self.seal(dir, cache: cache, out: "planted")
            #expect(planted.cacheHits == 0 && planted.cacheRejected.count == 3)
            #expect(planted.manifest.digest == reference.manifest.digest)
        }
    }
}

private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, needle.count <= haystack.count else { return false }
    return (0...(haystack.count - needle.count)).contains { haystack[$0] == needle[0] && haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
}

/// A layer whose first encrypted entry comes after a file outside the encrypted region cannot be
/// rewritten in pass one; pass two reads it again, and the result is the same kind of image.
@Suite struct LateEncryptedEntryTests {
    @Test func aLayerWithBytesBeforeItsFirstEncryptedEntryIsRewrittenInPassTwo() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let layout = try LayoutBuilder(path: dir + "/native")
            let secret = Array(SealerTests.marker.utf8) + [UInt8](repeating: 0x5a, count: 70_000)
            let layer = try TarBuilder.tar([.directory("etc"), .file("etc/early.conf", Array("early=1\n".utf8)),
                                            .directory("app"), .file("app/secret.bin", secret), .file("etc/late.conf", Array("late=1\n".utf8))])
            let manifest = try layout.image(layers: [(try TarBuilder.gzip(layer), Digest.sha256(of: layer), MediaType.ociLayerGzip)],
                                            config: ContainerConfig())
            try layout.index([(manifest, "native")])
            let source = try OCILayout(readingFrom: dir + "/native", tag: "native")
            let image = try ImageResolver().resolve(source)
            let key = try MasterKey(bytes: Array(repeating: 0x42, count: 32))
            var digests: [Digest] = []
            for cache in [nil, dir + "/cache", dir + "/cache"] as [String?] {
                var options = try SealerTests.options(dir, key: key)
                options.cacheDirectory = cache
                let out = dir + "/out-\(digests.count)"
                let result = try Sealer(options: options).seal(image, from: source, to: OCILayout(writingTo: out, tag: "sealed"))
                #expect(result.rewrittenLayers == 1)
                digests.append(result.manifest.digest)
                let sealedSource = try OCILayout(readingFrom: out, tag: "sealed")
                let sealed = try ImageResolver().resolve(sealedSource)
                _ = try SealedImageReader().verify(sealed, from: sealedSource, masterKey: key)
                let rewritten = try LayoutBuilder(path: out).layerEntries(of: "sealed", at: 0).map(\.0.path)
                #expect(rewritten.contains("etc/early.conf") && rewritten.contains("etc/late.conf"))
                #expect(!rewritten.contains { $0.hasPrefix("app") }, "\(rewritten)")
            }
            #expect(digests[0] == digests[1] && digests[1] == digests[2])
        }
    }
}

/// Counts calls from any thread.
final class Calls: Sendable {
    let count = Mutex(0)
}
