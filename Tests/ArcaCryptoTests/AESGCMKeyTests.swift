import ArcaCore
import ArcaCrypto
import Crypto
import Testing

@Suite struct AESGCMKeyTests {
    // Test Case 16 of McGrew and Viega, "The Galois/Counter Mode of Operation (GCM)" (AES-256,
    // 96-bit IV, 60-byte plaintext, 20-byte additional data).
    static let key = Hex.decode("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")!
    static let nonce = Hex.decode("cafebabefacedbaddecaf888")!
    static let plaintext = Hex.decode("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                                      + "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")!
    static let additionalData = Hex.decode("feedfacedeadbeeffeedfacedeadbeefabaddad2")!
    static let ciphertext = Hex.decode("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                                       + "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662")!
    static let tag = Hex.decode("76fc6ece0f4e1768cddf8853bb2d551b")!

    /// Seals with `AESGCMKey`; returns ciphertext and tag.
    func seal(_ key: AESGCMKey, _ plaintext: [UInt8], nonce: [UInt8] = nonce, additionalData: [UInt8] = additionalData) throws -> ([UInt8], [UInt8]) {
        var ciphertext = [UInt8](repeating: 0, count: plaintext.count)
        var tag = [UInt8](repeating: 0, count: 16)
        try plaintext.withUnsafeBytes { p in
            try nonce.withUnsafeBytes { n in
                try additionalData.withUnsafeBytes { a in
                    try ciphertext.withUnsafeMutableBytes { c in try tag.withUnsafeMutableBytes { try key.seal(p, nonce: n, additionalData: a, into: c, tag: $0) } }
                }
            }
        }
        return (ciphertext, tag)
    }

    /// Opens with `AESGCMKey` into a new array; nil if not authentic.
    func open(_ key: AESGCMKey, _ ciphertext: [UInt8], tag: [UInt8], nonce: [UInt8] = nonce, additionalData: [UInt8] = additionalData) -> [UInt8]? {
        var plaintext = [UInt8](repeating: 0, count: ciphertext.count)
        let authentic = ciphertext.withUnsafeBytes { c in
            tag.withUnsafeBytes { t in
                nonce.withUnsafeBytes { n in
                    additionalData.withUnsafeBytes { a in plaintext.withUnsafeMutableBytes { key.open(c, tag: t, nonce: n, additionalData: a, into: $0) } }
                }
            }
        }
        return authentic ? plaintext : nil
    }

    @Test func publishedVector() throws {
        let key = try AESGCMKey(SymmetricKey(data: Self.key))
        let (ciphertext, tag) = try seal(key, Self.plaintext)
        #expect(ciphertext == Self.ciphertext)
        #expect(tag == Self.tag)
        #expect(open(key, Self.ciphertext, tag: Self.tag) == Self.plaintext)
    }

    @Test func sameBytesAsCryptoKitBothWays() throws {
        let symmetric = SymmetricKey(size: .bits256)
        let key = try AESGCMKey(symmetric)
        for size in [0, 1, 15, 16, 17, 4096, 16384 + 3] {
            let plaintext = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ size) }
            let nonce = (0..<12).map { UInt8($0 + size % 7) }
            let aad = Array("chunk \(size)".utf8)
            let box = try AES.GCM.seal(plaintext, using: symmetric, nonce: try AES.GCM.Nonce(data: nonce), authenticating: aad)
            let (ciphertext, tag) = try seal(key, plaintext, nonce: nonce, additionalData: aad)
            #expect(ciphertext == Array(box.ciphertext))
            #expect(tag == Array(box.tag))
            #expect(open(key, Array(box.ciphertext), tag: Array(box.tag), nonce: nonce, additionalData: aad) == plaintext)
        }
    }

    @Test func inPlace() throws {
        let key = try AESGCMKey(SymmetricKey(data: Self.key))
        var buffer = Self.plaintext
        var tag = [UInt8](repeating: 0, count: 16)
        try Self.nonce.withUnsafeBytes { n in
            try Self.additionalData.withUnsafeBytes { a in
                try buffer.withUnsafeMutableBytes { b in
                    try tag.withUnsafeMutableBytes { try key.seal(UnsafeRawBufferPointer(b), nonce: n, additionalData: a, into: b, tag: $0) }
                }
            }
        }
        #expect(buffer == Self.ciphertext)
        #expect(tag == Self.tag)
        let authentic = Self.nonce.withUnsafeBytes { n in
            Self.additionalData.withUnsafeBytes { a in
                Self.tag.withUnsafeBytes { t in buffer.withUnsafeMutableBytes { key.open(UnsafeRawBufferPointer($0), tag: t, nonce: n, additionalData: a, into: $0) } }
            }
        }
        #expect(authentic)
        #expect(buffer == Self.plaintext)
    }

    /// Every single-bit flip of ciphertext, tag, nonce or additional data, and a wrong key, a
    /// short tag or a truncated ciphertext, is refused.
    @Test func tamperedInputsAreRefused() throws {
        let key = try AESGCMKey(SymmetricKey(data: Self.key))
        func flipped(_ bytes: [UInt8], _ bit: Int) -> [UInt8] {
            var copy = bytes
            copy[bit / 8] ^= 1 << UInt8(bit % 8)
            return copy
        }
        for bit in 0..<(Self.ciphertext.count * 8) {
            #expect(open(key, flipped(Self.ciphertext, bit), tag: Self.tag) == nil)
        }
        for bit in 0..<128 { #expect(open(key, Self.ciphertext, tag: flipped(Self.tag, bit)) == nil) }
        for bit in 0..<96 { #expect(open(key, Self.ciphertext, tag: Self.tag, nonce: flipped(Self.nonce, bit)) == nil) }
        for bit in 0..<(Self.additionalData.count * 8) {
            #expect(open(key, Self.ciphertext, tag: Self.tag, additionalData: flipped(Self.additionalData, bit)) == nil)
        }
        #expect(open(key, Self.ciphertext, tag: Self.tag, additionalData: []) == nil)
        #expect(open(key, Array(Self.ciphertext.dropLast()), tag: Self.tag) == nil)
        #expect(open(key, Self.ciphertext, tag: Array(Self.tag.prefix(12))) == nil)
        #expect(open(try AESGCMKey(SymmetricKey(size: .bits256)), Self.ciphertext, tag: Self.tag) == nil)
    }

    @Test func onlyAES256Keys() {
        #expect(throws: ArcaError.self) { try AESGCMKey(SymmetricKey(size: .bits128)) }
        #expect(throws: ArcaError.self) { try AESGCMKey(SymmetricKey(size: .bits192)) }
    }

    /// One key opened from many threads at once (the volume's readers share a session's key).
    @Test func sharedAcrossThreads() async throws {
        let key = try AESGCMKey(SymmetricKey(data: Self.key))
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask { (0..<200).allSatisfy { _ in self.open(key, Self.ciphertext, tag: Self.tag) == Self.plaintext } }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results == Array(repeating: true, count: 8))
    }
}
