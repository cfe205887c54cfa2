import ArcaCore
import ArcaCrypto
import FoundationEssentials
import Synchronization

/// A (version, root hash) pair: one state of a volume.
public struct AnchorPoint: Sendable, Hashable, CustomStringConvertible {
    public var version: UInt64
    public var root: Hash256
    public init(version: UInt64, root: Hash256) {
        self.version = version
        self.root = root
    }
    public var description: String { "version \(version) (root \(root.hex.prefix(16))…)" }
}

/// What an anchor holds: the last committed state and, when a commit is under way, its intent.
public struct VolumeAnchorState: Sendable, Hashable {
    public var committed: AnchorPoint?
    public var intent: AnchorPoint?
    public init(committed: AnchorPoint?, intent: AnchorPoint?) {
        self.committed = committed
        self.intent = intent
    }
}

/// Rollback protection: a store outside the host's reach (the keeper) that remembers the newest
/// state of a volume. The volume records an intent for version v+1 before making it visible and
/// commits it afterwards; at start, the committed version or the intended one is accepted and
/// anything else refused. Calls are synchronous (the FUSE server calls them on its threads).
///
/// Rules every conformance keeps (the keeper's anchor API follows them: version 0 with no root
/// is "nothing committed", `intent` is its compare-and-swap on `expectedVersion = v`):
/// - `intent(p)` is accepted only for `p.version == committed.version + 1` (1 when nothing is
///   committed) and may be repeated with another root (a retried commit);
/// - `commit(p)` is accepted only for the current intent, and clears it;
/// - `lease()` takes or renews the single-writer lease (a conformance that expires leases renews
///   them itself while held); a new holder may void a pending intent, which is safe: the volume
///   then starts at the committed version. `releaseLease()` gives it up.
/// A refusal throws.
public protocol VolumeAnchor: AnyObject, Sendable {
    func read() throws -> VolumeAnchorState
    func intent(_ next: AnchorPoint) throws
    func commit(_ point: AnchorPoint) throws
    func lease() throws
    func releaseLease() throws
}

extension VolumeAnchor {
    /// No lease beyond the host directory's `flock` (a local anchor).
    public func lease() throws {}
    public func releaseLease() throws {}
}

/// A `VolumeAnchor` kept in a local file (tests, and single-host setups that trust a path the
/// volume's host directory does not contain). Written atomically; 0600.
public final class FileVolumeAnchor: VolumeAnchor {
    public let path: String
    private let lock = Mutex(())

    public init(path: String) { self.path = path }

    public func read() throws -> VolumeAnchorState {
        try lock.withLock { _ in try load() }
    }

    public func intent(_ next: AnchorPoint) throws {
        try lock.withLock { _ in
            var state = try load()
            let committed = state.committed?.version ?? 0
            guard next.version == committed + 1 else {
                throw ArcaError(.rollback, "anchor refuses an intent for version \(next.version): committed is \(committed)")
            }
            state.intent = next
            try store(state)
        }
    }

    public func commit(_ point: AnchorPoint) throws {
        try lock.withLock { _ in
            var state = try load()
            guard state.intent == point else {
                throw ArcaError(.rollback, "anchor refuses to commit \(point): it is not the recorded intent")
            }
            state.committed = point
            state.intent = nil
            try store(state)
        }
    }

    private func load() throws -> VolumeAnchorState {
        guard FileSystem.exists(path) else { return VolumeAnchorState(committed: nil, intent: nil) }
        var r = ByteReader(try FileSystem.readFile(path, limit: 4096), what: "volume anchor \(path)")
        func point() throws -> AnchorPoint? {
            guard try r.u8() == 1 else { return nil }
            let version = try r.u64()
            return AnchorPoint(version: version, root: Hash256(try r.fixed(32))!)
        }
        let state = VolumeAnchorState(committed: try point(), intent: try point())
        guard r.isAtEnd else { throw ArcaError(.invalidFormat, "volume anchor \(path) has trailing bytes") }
        return state
    }

    private func store(_ state: VolumeAnchorState) throws {
        var w = ByteWriter()
        for point in [state.committed, state.intent] {
            if let point {
                w.u8(1)
                w.u64(point.version)
                w.fixed(point.root.bytes)
            } else {
                w.u8(0)
            }
        }
        try HostDirectory.writeDurably(w.bytes, path: path)
    }
}
