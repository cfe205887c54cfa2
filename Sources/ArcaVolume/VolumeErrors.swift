import ArcaCore

/// A POSIX error for a file-system operation (`ENOENT`, `EEXIST`, …): the FUSE front end answers
/// with `code`. Integrity and I/O failures are `ArcaError`s instead (answered with `EIO`).
public struct POSIXFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: Int32
    public init(_ code: Int32) { self.code = code }
    public var description: String { "errno \(code)" }
}

extension ArcaError.Code {
    /// The volume is served by another process (its lease is held).
    public static let volumeBusy = ArcaError.Code(rawValue: "volume-busy")
    /// The volume on disk is older than, or differs from, its anchored version.
    public static let rollback = ArcaError.Code(rawValue: "rollback")
    /// The host directory's file system is full (ENOSPC or EDQUOT): the service gets ENOSPC.
    public static let noSpace = ArcaError.Code(rawValue: "no-space")
}
