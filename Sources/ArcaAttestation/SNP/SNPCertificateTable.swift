import ArcaCore

/// The GHCB certificate table the host hands the guest with an extended report (and that
/// configfs-tsm exposes as `auxblob`): entries of GUID(16) ‖ offset u32 ‖ length u32, ended by
/// an all-zero entry; offsets count from the start of the table.
public struct SNPCertificateTable: Sendable {
    public static let vcekGUID = "63da758d-e664-4564-adc5-f4b93be8accd"
    public static let vlekGUID = "a8074bc2-a25a-483e-aae6-39c045a0b8a1"
    public static let askGUID = "4ab7b379-bbac-4fe4-a02f-05aef327c782"
    public static let arkGUID = "c0b406a4-a803-4952-9743-3fb6014cd0ae"
    static let maximumEntries = 32

    /// DER certificates by lowercase GUID.
    public let entries: [String: [UInt8]]

    public init(_ bytes: [UInt8]) throws {
        var reader = ByteReader(bytes, what: "SNP certificate table")
        var entries: [String: [UInt8]] = [:]
        while true {
            let guid = try reader.take(16, "entry GUID")
            let offset = Int(try reader.u32("entry offset"))
            let length = Int(try reader.u32("entry length"))
            if guid.isAllZero { break }
            guard entries.count < Self.maximumEntries else {
                throw ArcaError(.limitExceeded, "SNP certificate table has more than \(Self.maximumEntries) entries")
            }
            guard offset <= bytes.count, length <= bytes.count - offset else {
                throw ArcaError(.invalidFormat,
                                "SNP certificate table entry \(Self.format(guid)) points at [\(offset), +\(length)) outside the \(bytes.count)-byte table")
            }
            entries[Self.format(guid)] = Array(bytes[offset..<offset + length])
        }
        self.entries = entries
    }

    /// GUIDs are stored in the mixed-endian Microsoft layout.
    static func format(_ g: [UInt8]) -> String {
        let order = [3, 2, 1, 0, -1, 5, 4, -1, 7, 6, -1, 8, 9, -1, 10, 11, 12, 13, 14, 15]
        return order.map { $0 < 0 ? "-" : Hex.encode([g[$0]]) }.joined()
    }
}
