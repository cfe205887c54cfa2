import ArcaCore
import SwiftASN1

/// Certificate bundles in PEM (Intel certification data type 5, issuer chains, AMD KDS chains).
public enum PEMCertificates {
    /// At most this many certificates in one bundle; real chains hold 2–3.
    static let maximumCount = 8

    /// Parses every `CERTIFICATE` block in order; text between blocks and a trailing NUL (Intel
    /// pads type-5 data with one) are ignored.
    public static func parse(_ bytes: [UInt8], what: String) throws -> [VendorCertificate] {
        var text = bytes
        while text.last == 0 { text.removeLast() }
        guard text.allSatisfy({ $0 < 0x80 }) else { throw ArcaError(.invalidFormat, "\(what) is not ASCII PEM text") }
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: String(decoding: text, as: UTF8.self))
        } catch {
            throw ArcaError(.invalidFormat, "\(what) is not a PEM certificate bundle", cause: error)
        }
        let certificates = documents.filter { $0.discriminator == "CERTIFICATE" }
        guard !certificates.isEmpty else { throw ArcaError(.invalidFormat, "\(what) holds no certificate") }
        guard certificates.count <= maximumCount else {
            throw ArcaError(.limitExceeded, "\(what) holds \(certificates.count) certificates, over the limit of \(maximumCount)")
        }
        return try certificates.enumerated().map { index, document in
            do { return try VendorCertificate(der: document.derBytes) } catch let error as ArcaError {
                throw ArcaError(error.code, "\(what) certificate \(index + 1): \(error.message)", cause: error.cause)
            }
        }
    }

    /// Parses DER or PEM: DER starts with a SEQUENCE tag, PEM with text.
    public static func parseAny(_ bytes: [UInt8], what: String) throws -> [VendorCertificate] {
        if bytes.first == 0x30 { return [try VendorCertificate(der: bytes)] }
        return try parse(bytes, what: what)
    }
}
