#if canImport(Glibc)
import Glibc
#endif

/// The few process facts Arca needs, without Foundation.
public enum ProcessInfoLite {
    /// Processors this process may run on.
    public static var activeProcessorCount: Int {
        let count = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return count > 0 ? Int(count) : 1
    }
}
