import ArcaCore
import ArcaKeeperAPI
import FoundationEssentials

extension ArcaError.Code {
    /// A compare-and-swap lost: the state changed since the caller read it.
    public static let conflict = ArcaError.Code(rawValue: "conflict")
    /// An authorisation or attestation check failed.
    public static let denied = ArcaError.Code(rawValue: "denied")
}

/// The pure state transitions of a volume anchor; stores apply them inside a transaction.
public enum AnchorLogic {
    /// The longest lease a writer may take.
    public static let maximumLeaseSeconds = 3600

    /// Takes or renews the single-writer lease; another holder's unexpired lease is a conflict.
    public static func lease(_ state: AnchorState, holder: String, seconds: Int, now: Date) throws -> AnchorState {
        guard seconds >= 1 && seconds <= maximumLeaseSeconds else {
            throw ArcaError(.invalidArgument, "lease of \(seconds) s is outside 1…\(maximumLeaseSeconds) s")
        }
        if let current = state.leaseHolder, current != holder, let expiry = state.leaseExpiresAt, expiry > now {
            throw ArcaError(.conflict, "volume is leased by another writer until \(Int64(expiry.timeIntervalSince1970))")
        }
        var next = state
        if state.leaseHolder != holder {
            // A new writer starts clean: an intent left by an expired writer is void.
            next.pendingVersion = nil
            next.pendingRootHash = nil
        }
        next.leaseHolder = holder
        next.leaseExpiresAt = now.addingTimeInterval(Double(seconds))
        return next
    }

    /// Gives the lease up (a no-op if `holder` does not hold it).
    public static func unlease(_ state: AnchorState, holder: String) -> AnchorState {
        guard state.leaseHolder == holder else { return state }
        var next = state
        next.leaseHolder = nil
        next.leaseExpiresAt = nil
        return next
    }

    /// Records the intent to move from `expectedVersion` to `expectedVersion + 1` with `rootHash`.
    public static func intent(_ state: AnchorState, holder: String, expectedVersion: Int64, rootHash: String, now: Date) throws -> AnchorState {
        try requireLease(state, holder: holder, now: now)
        guard state.version == expectedVersion else {
            throw ArcaError(.conflict, "anchor is at version \(state.version), not the expected \(expectedVersion)")
        }
        guard let bytes = Hex.decode(rootHash), bytes.count == 32, rootHash == rootHash.lowercased() else {
            throw ArcaError(.invalidArgument, "root hash must be 64 lowercase hex digits")
        }
        var next = state
        next.pendingVersion = expectedVersion + 1
        next.pendingRootHash = rootHash
        return next
    }

    /// Commits the pending intent for `version`.
    public static func commit(_ state: AnchorState, holder: String, version: Int64, now: Date) throws -> AnchorState {
        try requireLease(state, holder: holder, now: now)
        guard let pending = state.pendingVersion, let root = state.pendingRootHash else {
            throw ArcaError(.conflict, "anchor has no pending intent to commit")
        }
        guard pending == version else {
            throw ArcaError(.conflict, "pending version is \(pending), not \(version)")
        }
        var next = state
        next.version = pending
        next.rootHash = root
        next.pendingVersion = nil
        next.pendingRootHash = nil
        return next
    }

    private static func requireLease(_ state: AnchorState, holder: String, now: Date) throws {
        guard state.leaseHolder == holder, let expiry = state.leaseExpiresAt, expiry > now else {
            throw ArcaError(.conflict, "caller does not hold an unexpired lease on the volume")
        }
    }
}
