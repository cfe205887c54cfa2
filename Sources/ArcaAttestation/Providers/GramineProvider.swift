import ArcaCore

/// Gramine's `/dev/attestation` pseudo-files inside an SGX enclave: write 64 bytes to
/// `user_report_data`, read the DCAP quote from `quote`. `attestation_type` must be `dcap`.
public struct GramineProvider: EvidenceProvider {
    public static let defaultRoot = "/dev/attestation"
    public let root: String

    public init(root: String = GramineProvider.defaultRoot) { self.root = root }

    public func kind() throws -> EvidenceKind { .sgx }

    public func evidence(reportData: [UInt8]) throws -> [UInt8] {
        try checkReportData(reportData)
        guard FileSystem.exists(root + "/quote") else {
            throw ArcaError(.notFound, "Gramine attestation is not available: \(root)/quote does not exist (run inside Gramine-SGX with sgx.remote_attestation = \"dcap\")")
        }
        if FileSystem.exists(root + "/attestation_type") {
            let type = try PseudoFile.readText(root + "/attestation_type")
            guard type == "dcap" else {
                throw ArcaError(.unsupported, "Gramine attestation type is '\(type)'; Arca needs 'dcap' (set sgx.remote_attestation = \"dcap\" in the manifest)")
            }
        }
        try PseudoFile.writeAll(reportData, to: root + "/user_report_data")
        let quote = try PseudoFile.read(root + "/quote")
        guard !quote.isEmpty else { throw ArcaError(.io, "Gramine returned an empty quote from \(root)/quote") }
        return quote
    }
}
