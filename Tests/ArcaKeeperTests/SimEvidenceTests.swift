import ArcaAttestation
import ArcaCore
import ArcaKeeperAPI
import Crypto
import Foundation
import Testing

@Suite struct SimEvidenceTests {
    let platform = P256.Signing.PrivateKey()
    var verifier: SimEvidenceVerifier {
        SimEvidenceVerifier(platformKeys: [SimPlatform.keyID(of: platform.publicKey): platform.publicKey])
    }

    func evidence() throws -> [UInt8] {
        try SimEvidenceProducer(privateKey: platform).produce(measurement: Array(repeating: 0xa1, count: 32),
                                                             reportData: Array(repeating: 7, count: 64))
    }

    @Test func producesEvidenceTheVerifierAccepts() throws {
        let verified = try verifier.verify(try evidence(), at: Date())
        #expect(verified.kind == .sim)
        #expect(verified.measurements["arca"] == measurementA)
        #expect(verified.reportData == Array(repeating: 7, count: 64))
        #expect(verified.platform == SimPlatform.keyID(of: platform.publicKey))
        #expect(verified.measurements["isvsvn"] == nil)
    }

    @Test func refusesAnUnregisteredPlatform() throws {
        let other = SimEvidenceVerifier(platformKeys: [:])
        let error = try #require(throws: ArcaError.self) { try other.verify(try evidence(), at: Date()) }
        #expect(error.code == .notFound)
    }

    @Test func refusesEveryFlippedBitAndTruncation() throws {
        let good = try evidence()
        for index in good.indices {
            var bad = good
            bad[index] ^= 0x01
            // A flip inside JSON whitespace-free text always breaks the envelope, the base64, the body or the signature.
            #expect(throws: ArcaError.self, "flip at \(index)") { try verifier.verify(bad, at: Date()) }
        }
        for length in 0..<good.count {
            #expect(throws: ArcaError.self, "truncation at \(length)") { try verifier.verify(Array(good[0..<length]), at: Date()) }
        }
    }

    @Test func refusesAForgedBodyWithAValidSignatureFromAnotherKey() throws {
        let attacker = P256.Signing.PrivateKey()
        let body = SimEvidenceBody(measurement: measurementA, reportData: String(repeating: "07", count: 64),
                                   platformKeyID: SimPlatform.keyID(of: platform.publicKey))
        let forged = try SimEvidenceProducer.sign(body, with: attacker)
        let error = try #require(throws: ArcaError.self) { try verifier.verify(forged, at: Date()) }
        #expect(error.code == .integrity)
    }

    @Test func releaseEnvelopeRoundTripsAndBindsTheNonce() throws {
        let runtime = P256.KeyAgreement.PrivateKey()
        let nonce = Array(repeating: UInt8(9), count: 32)
        let sealed = try ReleaseEnvelope.seal(Array("secret payload".utf8), to: runtime.publicKey, nonce: nonce)
        let opened = try ReleaseEnvelope.open(sealed.ciphertext, keeperPublicKey: sealed.ephemeralPublicKey, privateKey: runtime, nonce: nonce)
        #expect(opened == Array("secret payload".utf8))
        #expect(throws: ArcaError.self) {
            try ReleaseEnvelope.open(sealed.ciphertext, keeperPublicKey: sealed.ephemeralPublicKey, privateKey: runtime,
                                     nonce: Array(repeating: 8, count: 32))
        }
        #expect(throws: ArcaError.self) {
            try ReleaseEnvelope.open(sealed.ciphertext, keeperPublicKey: sealed.ephemeralPublicKey,
                                     privateKey: P256.KeyAgreement.PrivateKey(), nonce: nonce)
        }
    }
}

@Suite struct SimEvidenceProviderTests {
    @Test func providerProducesEvidenceBoundToTheReportData() throws {
        let platform = P256.Signing.PrivateKey()
        let provider = SimEvidenceProvider(producer: SimEvidenceProducer(privateKey: platform), measurement: Array(repeating: 0xa1, count: 32))
        #expect(try provider.kind() == .sim)
        let reportData = try ReportDataBinding.reportData(nonce: [1, 2], ephemeralKey: [3], measurement: Array(repeating: 0xa1, count: 32))
        let verified = try SimEvidenceVerifier(platformKeys: [SimPlatform.keyID(of: platform.publicKey): platform.publicKey])
            .verify(try provider.evidence(reportData: reportData), at: Date())
        #expect(verified.reportData == reportData)
        #expect(throws: ArcaError.self) { try provider.evidence(reportData: [0]) }
    }
}
