import ArcaCore
import ArcaCrypto
@testable import ArcaShield
import Testing

/// Issue 3: a marker inside an encrypted file, that file's name and its exact size appear in no
/// byte of the blob or the index.
@Suite struct LeakTests {
    func encodings(of size: Int) -> [[UInt8]] {
        var forms: [[UInt8]] = [Array(String(size).utf8), Array(String(size, radix: 16).utf8)]
        for width in [2, 4, 8] {
            var bigEndian = [UInt8]()
            for shift in stride(from: (width - 1) * 8, through: 0, by: -8) { bigEndian.append(UInt8(truncatingIfNeeded: size >> shift)) }
            forms.append(bigEndian)
            forms.append(bigEndian.reversed())
        }
        return forms
    }

    @Test func markerNameAndSizeAppearNowhere() throws {
        let tree = SampleTree()
        let (index, blob) = try tree.seal()
        let name = Array(SampleTree.secretName.utf8)
        for (label, bytes) in [("blob", blob), ("index", index.bytes)] {
            #expect(!contains(bytes, SampleTree.marker), "marker in the \(label)")
            #expect(!contains(bytes, name), "file name in the \(label)")
            #expect(!contains(bytes, Array(name.prefix(8))), "name prefix in the \(label)")
            // A two-byte pattern turns up in a few KiB of ciphertext and hashes by chance (p ≈ 2⁻¹⁶
            // per offset), so two-byte forms are looked for only in the fixed-layout headers.
            let fixed = Array(bytes.prefix(label == "index" ? ShieldFormat.indexHeaderSize : 24))
            for form in encodings(of: SampleTree.secretSize) {
                #expect(!contains(form.count > 2 ? bytes : fixed, form), "size \(SampleTree.secretSize) as \(form) in the \(label)")
            }
            // Nor the names, link targets or exact sizes of the other encrypted entries.
            for text in ["a-small.txt", "d-two.bin", "e-link", "f-hard", "g-empty"] {
                #expect(!contains(bytes, Array(text.utf8)), "\(text) in the \(label)")
            }
        }
        // The control: the same search finds what is public.
        #expect(contains(index.bytes, Array("/bin/tool".utf8)))
        #expect(contains(index.bytes, encodings(of: 10_000)[6]))  // u64 size of /bin/tool
    }

    @Test func theEncryptedSectionLeaksOnlyAPaddedLength() throws {
        // One more small encrypted file does not change any public length.
        var tree = SampleTree()
        let (before, blobBefore) = try tree.seal()
        tree.inputs.append(ShieldInput(entry: IndexEntry(path: "/app/zzz-extra", type: .regular, protection: .encrypted, size: 3),
                                       content: MemoryBytes([1, 2, 3])))
        tree.inputs.sort { $0.entry.path.utf8.lexicographicallyPrecedes($1.entry.path.utf8) }
        let (after, blobAfter) = try tree.seal()
        #expect(before.bytes.count == after.bytes.count)
        #expect(blobBefore.count == blobAfter.count)
        #expect(ShieldFormat.paddedLength(1) == 4096)
        #expect(ShieldFormat.paddedLength(4097) == 4352)
        for length in [4097, 10_000, 123_457, 9_999_999] {
            let padded = ShieldFormat.paddedLength(length)
            #expect(padded >= length && Double(padded) <= Double(length) * 1.12 + 1)
        }
    }
}
