import ArcaCore
import Synchronization

/// A `VolumeAnchor` held in memory, starting from a given state: for offline tools that read
/// the real anchor first (`arca volume rotate` opens the old volume against the keeper's state)
/// and for tests. Keeps the same rules as every anchor.
public final class MemoryVolumeAnchor: VolumeAnchor {
    private let state: Mutex<VolumeAnchorState>

    public init(_ initial: VolumeAnchorState = VolumeAnchorState(committed: nil, intent: nil)) {
        state = Mutex(initial)
    }

    public func read() throws -> VolumeAnchorState { state.withLock { $0 } }

    public func intent(_ next: AnchorPoint) throws {
        try state.withLock { s in
            let committed = s.committed?.version ?? 0
            guard next.version == committed + 1 else {
                throw ArcaError(.rollback, "anchor refuses an intent for version \(next.version): committed is \(committed)")
            }
            s.intent = next
        }
    }

    public func commit(_ point: AnchorPoint) throws {
        try state.withLock { s in
            guard s.intent == point else {
                throw ArcaError(.rollback, "anchor refuses to commit \(point): it is not the recorded intent")
            }
            s.committed = point
            s.intent = nil
        }
    }
}
