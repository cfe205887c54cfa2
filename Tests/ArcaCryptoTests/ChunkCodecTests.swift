import ArcaCore
import ArcaCrypto
import Testing

@Suite struct ChunkCodecTests {
    let keys: KeySchedule
    let layout: ChunkLayout

    init() throws {
        keys = KeySchedule(masterKey: try MasterKey(bytes: [UInt8](repeating: 0x42, count: 32)))
        layout = try ChunkLayout(chunkSize: 4096)
    }

    func codec(streamSize: UInt64 = 3 * 4096 - 5, id: UInt8 = 1) throws -> ChunkCodec {
        try ChunkCodec(keys: keys, layout: layout, streamId: Hash256([UInt8](repeating: id, count: 32))!, streamSize: streamSize)
    }

    func seal(_ codec: ChunkCodec, _ j: UInt64, _ plaintext: [UInt8]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: codec.sealedChunkSize)
        try plaintext.withUnsafeBytes { p in try out.withUnsafeMutableBytes { try codec.seal(index: j, plaintext: p, into: $0) } }
        return out
    }

    func open(_ codec: ChunkCodec, _ j: UInt64, _ sealed: [UInt8]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: layout.chunkSize)
        try sealed.withUnsafeBytes { s in try out.withUnsafeMutableBytes { try codec.open(index: j, sealed: s, into: $0) } }
        return out
    }

    @Test func roundTripAndAdditionalDataLayout() throws {
        let codec = try codec()
        let plaintext = (0..<4096).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let sealed = try seal(codec, 1, plaintext)
        #expect(sealed.count == 4096 + 16)
        #expect(Array(sealed[..<4096]) != plaintext)
        #expect(try open(codec, 1, sealed) == plaintext)
        let aad = codec.additionalData(index: 2)
        #expect(aad.count == 51)
        #expect(aad[0..<2] == [0, 1])
        #expect(aad[34..<42] == [0, 0, 0, 0, 0, 0, 0, 2])
        #expect(aad[42] == 1)  // chunk 2 of 3 is the final one
        #expect(codec.additionalData(index: 1)[42] == 0)
        #expect(ChunkCodec.nonceBytes(index: 258) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2])
    }

    @Test func everyBoundFieldIsAuthenticated() throws {
        let codec = try codec()
        let plaintext = [UInt8](repeating: 9, count: 4096)
        let sealed = try seal(codec, 1, plaintext)
        // Another chunk index (a moved chunk), another stream, another stream size (a truncated or
        // extended stream, which also moves the final flag): all refused.
        #expect(throws: ArcaError.self) { try open(codec, 0, sealed) }
        #expect(throws: ArcaError.self) { try open(self.codec(id: 2), 1, sealed) }
        #expect(throws: ArcaError.self) { try open(self.codec(streamSize: 2 * 4096), 1, sealed) }
        // Every bit of ciphertext and tag.
        for bit in stride(from: 0, to: sealed.count * 8, by: 97) {
            var bad = sealed
            bad[bit / 8] ^= UInt8(1 << (bit % 8))
            let error = try #require(throws: ArcaError.self) { try open(codec, 1, bad) }
            #expect(error.code == .integrity)
        }
        // All zeros are never a hole.
        #expect(throws: ArcaError.self) { try open(codec, 1, [UInt8](repeating: 0, count: sealed.count)) }
        #expect(throws: ArcaError.self) { try open(codec, 1, Array(sealed.dropLast())) }
        #expect(throws: ArcaError.self) { try open(codec, 3, sealed) }
    }

    @Test func sealingIsDeterministic() throws {
        let plaintext = [UInt8](repeating: 5, count: 4096)
        #expect(try seal(codec(), 0, plaintext) == seal(codec(), 0, plaintext))
        #expect(try seal(codec(), 0, plaintext) != seal(codec(), 1, plaintext))
    }

    @Test func indexCipherRoundTripAndTamper() throws {
        let key = keys.indexKey(secretId: .zero)
        let aad: [UInt8] = [4], otherAAD: [UInt8] = [5]
        let sealed = try IndexCipher.seal(plaintext: [1, 2, 3], additionalData: aad, key: key)
        #expect(sealed.withUnsafeBytes { s in aad.withUnsafeBytes { try? IndexCipher.open(sealed: s, additionalData: $0, key: key) } } == [1, 2, 3])
        var bad = sealed
        bad[0] ^= 1
        #expect(throws: ArcaError.self) { try bad.withUnsafeBytes { s in try aad.withUnsafeBytes { try IndexCipher.open(sealed: s, additionalData: $0, key: key) } } }
        #expect(throws: ArcaError.self) { try sealed.withUnsafeBytes { s in try otherAAD.withUnsafeBytes { try IndexCipher.open(sealed: s, additionalData: $0, key: key) } } }
        #expect(throws: ArcaError.self) { try [UInt8](repeating: 0, count: 15).withUnsafeBytes { s in try aad.withUnsafeBytes { try IndexCipher.open(sealed: s, additionalData: $0, key: key) } } }
    }
}

@Suite struct KeyScheduleTests {
    let keys: KeySchedule
    let otherKeys: KeySchedule

    init() throws {
        keys = KeySchedule(masterKey: try MasterKey(bytes: [UInt8](repeating: 0x42, count: 32)))
        otherKeys = KeySchedule(masterKey: try MasterKey(bytes: [UInt8](repeating: 0x43, count: 32)))
    }

    @Test func streamIdCommitsToEveryInput() {
        let d = [ChunkHasher.digest([1]), ChunkHasher.digest([2])]
        let base = keys.streamId(chunkSize: 4096, streamSize: 5000, chunkDigests: d)
        #expect(base == keys.streamId(chunkSize: 4096, streamSize: 5000, chunkDigests: d))
        #expect(base != keys.streamId(chunkSize: 8192, streamSize: 5000, chunkDigests: d))
        #expect(base != keys.streamId(chunkSize: 4096, streamSize: 5001, chunkDigests: d))
        #expect(base != keys.streamId(chunkSize: 4096, streamSize: 5000, chunkDigests: d.reversed()))
        #expect(base != keys.streamId(chunkSize: 4096, streamSize: 5000, chunkDigests: [d[0], ChunkHasher.digest([3])]))
        #expect(base != otherKeys.streamId(chunkSize: 4096, streamSize: 5000, chunkDigests: d))
    }

    @Test func derivedKeysDifferPerIdentifierAndPurpose() {
        let a = Hash256([UInt8](repeating: 1, count: 32))!
        let b = Hash256([UInt8](repeating: 2, count: 32))!
        let keyBytes = { (key: SymmetricKeyBytes) in key.value }
        let streamA = keyBytes(SymmetricKeyBytes(keys.streamKey(streamId: a)))
        #expect(streamA == keyBytes(SymmetricKeyBytes(keys.streamKey(streamId: a))))
        #expect(streamA != keyBytes(SymmetricKeyBytes(keys.streamKey(streamId: b))))
        #expect(streamA != keyBytes(SymmetricKeyBytes(keys.indexKey(secretId: a))))
    }

    @Test func secretIdCommitsToAdditionalDataAndPlaintext() {
        func id(_ aad: [UInt8], _ plain: [UInt8]) -> Hash256 {
            aad.withUnsafeBytes { a in plain.withUnsafeBytes { keys.secretId(additionalData: a, plaintext: $0) } }
        }
        #expect(id([1], [2]) == id([1], [2]))
        #expect(id([1], [2]) != id([1], [3]))
        #expect(id([1], [2]) != id([0], [2]))
        #expect(id([1, 2], []) != id([1], [2]))
    }
}
