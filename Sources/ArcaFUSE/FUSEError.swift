#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An errno to answer a FUSE request with. Operations throw it to choose the answer; any other
/// error they throw is answered with `EIO` (the operation logs what went wrong, not the adapter).
public struct FUSEError: Error, Sendable, Hashable, CustomStringConvertible {
    public var errno: Int32
    public init(_ errno: Int32) { self.errno = errno }

    public static let noEntry = FUSEError(ENOENT)
    public static let io = FUSEError(EIO)
    public static let notDirectory = FUSEError(ENOTDIR)
    public static let isDirectory = FUSEError(EISDIR)
    public static let invalid = FUSEError(EINVAL)
    public static let readOnly = FUSEError(EROFS)
    public static let noAttribute = FUSEError(ENODATA)
    public static let range = FUSEError(ERANGE)
    public static let notSupported = FUSEError(ENOSYS)

    public var description: String { "errno \(errno)" }
}
