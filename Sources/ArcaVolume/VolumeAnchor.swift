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
public struct AnchorState: Sendable, Hashable {
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
/// Rules every conformance keeps: `intent` is accepted only for `committed.version + 1` (or any
/// version when nothing is committed yet) and may be repeated with another root (a retried
/// commit); `commit` is accepted only for the current intent or the committed point itself, and
/// clears the intent. A refusal throws.
public protocol VolumeAnchor: AnyObject, Sendable {
    func read() throws -> AnchorState
    func intent(_ next: AnchorPoint) throws
    func commit(_ point: AnchorPoint) throws
}

/// A `VolumeAnchor` kept in a local file (tests, and single-host setups that trust a path the
/// volume's host directory does not contain). Written atomically; 0600.
public final class FileVolumeAnchor: VolumeAnchor {
    public let path: String
    private let lock = Mutex(())

    public init(path: String) { self.path = path }

    public func read() throws -> AnchorState {
        try lock.withLock { _ in try load() }
    }

    public func intent(_ next: AnchorPoint) throws {
        try lock.withLock { _ in
            var state = try load()
            if let committed = state.committed, next.version != committed.version + 1 {
                throw ArcaError(.rollback, "anchor refuses an intent for version \(next.version): committed is \(committed.version)")
            }
            state.intent = next
            try store(state)
        }
    }

    public func commit(_ point: AnchorPoint) throws {
        try lock.withLock { _ in
            var state = try load()
            guard state.intent == point || state.committed == point else {
                throw ArcaError(.rollback, "anchor refuses to commit \(point): it is neither the intent nor the committed point")
            }
            state.committed = point
            state.intent = nil
            try store(state)
        }
    }

    private func load() throws -> AnchorState {
        guard FileSystem.exists(path) else { return AnchorState(committed: nil, intent: nil) }
        var r = ByteReader(try FileSystem.readFile(path, limit: 4096), what: "volume anchor \(path)")
        func point() throws -> AnchorPoint? {
            guard try r.u8() == 1 else { return nil }
            let version = try r.u64()
            return AnchorPoint(version: version, root: Hash256(try r.fixed(32))!)
        }
        let state = AnchorState(committed: try point(), intent: try point())
        guard r.isAtEnd else { throw ArcaError(.invalidFormat, "volume anchor \(path) has trailing bytes") }
        return state
    }

    private func store(_ state: AnchorState) throws {
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
