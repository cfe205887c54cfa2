/// Comparisons whose running time does not depend on where the inputs differ.
public enum ConstantTime {
    /// True when both buffers have the same length and bytes. Only the length may leak by timing.
    public static func equals(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    /// True when both arrays have the same length and bytes.
    public static func equals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in equals(pa, pb) } }
    }

    /// True when every byte is zero, scanning all of them.
    public static func isZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var accumulated: UInt8 = 0
        for byte in bytes { accumulated |= byte }
        return accumulated == 0
    }
}
