import ArcaCore
import ArcaCrypto
import ArcaTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct MasterKeyTests {
    let bytes = [UInt8](repeating: 0x42, count: 32)

    @Test func descriptionShowsOnlyTheKeyId() throws {
        let key = try MasterKey(bytes: bytes)
        var dumped = ""
        dump(key, to: &dumped)
        let text = "\(key) \(String(reflecting: key)) \(dumped)"
        #expect(!text.contains(Hex.encode(bytes)))
        #expect(!text.contains("4242424242"))
        #expect(text.contains(key.id))
        #expect(key.id.count == 32)
        // Pinned: the key id is part of what users see in logs and sessions.
        #expect(key.id == "6c5eae48db1a13af8439237e1477b23b")
    }

    @Test func differentKeysHaveDifferentIds() throws {
        var other = bytes
        other[31] ^= 1
        #expect(try MasterKey(bytes: other).id != MasterKey(bytes: bytes).id)
        #expect(MasterKey.generate().id != MasterKey.generate().id)
    }

    @Test(arguments: [0, 16, 31, 33, 64])
    func refusesWrongLengths(_ count: Int) {
        #expect(throws: ArcaError.self) { try MasterKey(bytes: [UInt8](repeating: 7, count: count)) }
    }

    @Test func keyFileRoundTripIs0600AndNeverOverwrites() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let path = dir + "/master.key"
            let key = MasterKey.generate()
            try KeyFile.write(key, to: path)
            var info = stat()
            #expect(stat(path, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o600)
            #expect(try KeyFile.read(path: path).id == key.id)
            #expect(throws: ArcaError.self) { try KeyFile.write(key, to: path) }
        }
    }

    @Test func keyFileAcceptsHexWithWhitespaceAndRawBytes() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            try FileSystem.writeAtomically(Array("  \(Hex.encode(bytes))\r\n".utf8), to: dir + "/hex")
            #expect(try KeyFile.read(path: dir + "/hex").id == MasterKey(bytes: bytes).id)
            try FileSystem.writeAtomically(bytes.map { $0 ^ 0x80 }, to: dir + "/raw")
            #expect(try KeyFile.read(path: dir + "/raw").id == MasterKey(bytes: bytes.map { $0 ^ 0x80 }).id)
        }
    }

    @Test func badKeyFilesFailWithoutEchoingTheirContent() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let secretish = String(repeating: "ab", count: 31) + "zz"
            for (name, content) in [("short", "abcd"), ("nonhex", secretish), ("empty", ""), ("long", String(repeating: "ab", count: 40))] {
                try FileSystem.writeAtomically(Array(content.utf8), to: dir + "/" + name)
                let error = try #require(throws: ArcaError.self) { try KeyFile.read(path: dir + "/" + name) }
                #expect(error.code == .invalidFormat)
                #expect(content.isEmpty || !error.message.contains(content))
            }
        }
    }
}

@Suite struct ConstantTimeTests {
    @Test func equalsComparesLengthAndEveryByte() {
        #expect(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.equals([9, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equals([1, 2], [1, 2, 3]))
        #expect(ConstantTime.equals([], []))
    }

    @Test func isZeroAndHashEquality() {
        #expect([0, 0, 0].withUnsafeBytes { ConstantTime.isZero($0) })
        #expect(![0, 0, 1].withUnsafeBytes { ConstantTime.isZero($0) })
        let a = ChunkHasher.digest([1])
        var flipped = a.bytes
        flipped[31] ^= 1
        #expect(a.constantTimeEquals(ChunkHasher.digest([1])))
        #expect(!a.constantTimeEquals(Hash256(flipped)!))
        #expect(Hash256(hex: a.hex) == a)
        #expect(Hash256([1, 2]) == nil)
    }
}
