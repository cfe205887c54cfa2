import ArcaCore
import ArcaCrypto
import ArcaKeeperAPI
import ArcaKeeperLink
import ArcaVolume
import FoundationEssentials
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A `VolumeAnchor` kept by the keeper (`POST /v1/anchors/{get,lease,intent,commit,unlease}`),
/// authorised by the volume's anchor token from the release. The lease is taken for
/// `leaseSeconds` and renewed by a background thread every third of that while held, so a
/// runtime that dies loses it within `leaseSeconds`.
public final class KeeperVolumeAnchor: VolumeAnchor, @unchecked Sendable {
    // @unchecked: `renewing` and `lastRenewalError` are only touched under `state`.
    public let session: String
    public let volume: String
    public let leaseSeconds: Int
    /// Random per mount: the keeper tells this runtime's lease from another container's.
    public let holder: String
    private let client: KeeperHTTPSClient
    private let token: String
    private let log: @Sendable (String) -> Void
    private let state = Mutex<(renewing: Bool, generation: Int)>((false, 0))

    public init(client: KeeperHTTPSClient, session: String, volume: String, anchorToken: String, leaseSeconds: Int = 60,
                log: @escaping @Sendable (String) -> Void) {
        self.client = client
        self.session = session
        self.volume = volume
        self.token = anchorToken
        self.leaseSeconds = leaseSeconds
        self.holder = Hex.encode((0..<16).map { _ in UInt8.random(in: 0...255) })
        self.log = log
    }

    deinit { state.withLock { $0.renewing = false } }

    private func call(_ operation: String, expectedVersion: Int64? = nil, rootHash: String? = nil, version: Int64? = nil) throws -> AnchorState {
        let request = AnchorRequest(session: session, volume: volume, anchorToken: token, holder: holder,
                                    leaseSeconds: operation == "lease" ? leaseSeconds : nil,
                                    expectedVersion: expectedVersion, rootHash: rootHash, version: version)
        do {
            return try client.post("/v1/anchors/" + operation, request, as: AnchorState.self)
        } catch let error as ArcaError where error.code == .keeperRefused {
            // A refused intent or commit means the anchor moved (another writer, a reset): the
            // volume must not believe its version was anchored.
            throw ArcaError(.rollback, "volume \(volume): \(error.message)", cause: error)
        }
    }

    public func read() throws -> VolumeAnchorState {
        Self.state(try call("get"))
    }

    /// The keeper's anchor as the volume sees it (version 0 is "nothing committed").
    static func state(_ anchor: AnchorState) -> VolumeAnchorState {
        func point(_ version: Int64?, _ root: String?) -> AnchorPoint? {
            guard let version, version > 0, let root, let bytes = Hex.decode(root), let hash = Hash256(bytes) else { return nil }
            return AnchorPoint(version: UInt64(version), root: hash)
        }
        return VolumeAnchorState(committed: point(anchor.version, anchor.rootHash),
                                 intent: point(anchor.pendingVersion, anchor.pendingRootHash))
    }

    public func intent(_ next: AnchorPoint) throws {
        guard next.version >= 1, next.version <= UInt64(Int64.max) else {
            throw ArcaError(.invalidArgument, "volume \(volume): version \(next.version) cannot be anchored")
        }
        _ = try call("intent", expectedVersion: Int64(next.version - 1), rootHash: next.root.hex)
    }

    public func commit(_ point: AnchorPoint) throws {
        guard point.version <= UInt64(Int64.max) else {
            throw ArcaError(.invalidArgument, "volume \(volume): version \(point.version) cannot be anchored")
        }
        _ = try call("commit", version: Int64(point.version))
    }

    /// Takes the lease (refused while another container holds it) and starts renewing it.
    public func lease() throws {
        let state = try call("lease")
        guard state.leaseHolder == holder else {
            throw ArcaError(.volumeBusy, "volume \(volume) is leased by another container; one container at a time may use a volume")
        }
        let generation = self.state.withLock { s -> Int? in
            guard !s.renewing else { return nil }
            s.renewing = true
            s.generation += 1
            return s.generation
        }
        if let generation { startRenewing(generation) }
    }

    /// Stops renewing and gives the lease up.
    public func releaseLease() throws {
        state.withLock { $0.renewing = false }
        _ = try call("unlease")
    }

    private func startRenewing(_ generation: Int) {
        let interval = max(1, leaseSeconds / 3)
        let thread = RenewalThread { [weak self] in
            while true {
                sleep(UInt32(interval))
                guard let self, self.state.withLock({ $0.renewing && $0.generation == generation }) else { return }
                do {
                    _ = try self.call("lease")
                } catch {
                    self.log("arca-init: volume \(self.volume): renewing the lease failed: \(error)")
                }
            }
        }
        thread.start()
    }
}

/// A detached POSIX thread running a closure (arca-init links no Foundation `Thread`).
final class RenewalThread: @unchecked Sendable {
    // @unchecked: `body` is written once in init and read once by the new thread.
    private let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }

    func start() {
        let box = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { pointer in
            let me = Unmanaged<RenewalThread>.fromOpaque(pointer!).takeRetainedValue()
            me.body()
            return nil
        }, box)
        if result == 0 { pthread_detach(thread) } else { Unmanaged<RenewalThread>.fromOpaque(box).release() }
    }
}
