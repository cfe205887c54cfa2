import ArcaCore

/// A refused request: an HTTP status, a stable machine-readable reason (also written to the audit
/// log and counted in `/metrics`), and a message for humans. Never carries a key.
public struct Denial: Error, Sendable, Equatable, CustomStringConvertible {
    public var httpStatus: Int
    public var reason: Reason
    public var message: String

    public init(_ status: Int, _ reason: Reason, _ message: String) {
        self.httpStatus = status
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(reason.rawValue): \(message)" }

    /// The bounded set of denial reasons (they label metrics, so the set must stay small).
    public enum Reason: String, Sendable, CaseIterable {
        case malformedRequest = "malformed-request"
        case bodyTooLarge = "body-too-large"
        case rateLimited = "rate-limited"
        case clientCertificateRequired = "client-certificate-required"
        case invalidSession = "invalid-session"
        case nameMismatch = "name-mismatch"
        case sessionExists = "session-exists"
        case sessionNotFound = "session-not-found"
        case notOwner = "not-owner"
        case missingPredecessor = "missing-predecessor"
        case stalePredecessor = "stale-predecessor"
        case serviceNotFound = "service-not-found"
        case nonceUnknown = "nonce-unknown"
        case nonceExpired = "nonce-expired"
        case nonceMismatch = "nonce-mismatch"
        case evidenceKindNotAllowed = "evidence-kind-not-allowed"
        case evidenceUnsupported = "evidence-unsupported"
        case platformUnregistered = "platform-unregistered"
        case evidenceInvalid = "evidence-invalid"
        case reportDataMismatch = "report-data-mismatch"
        case measurementMismatch = "measurement-mismatch"
        case signerMismatch = "signer-mismatch"
        case versionBelowMinimum = "version-below-minimum"
        case debugNotTolerated = "debug-not-tolerated"
        case tcbNotTolerated = "tcb-not-tolerated"
        case hardwarePolicyRejected = "hardware-policy-rejected"
        case anchorTokenInvalid = "anchor-token-invalid"
        case anchorConflict = "anchor-conflict"
        case notFound = "not-found"
        case internalError = "internal-error"
    }
}
