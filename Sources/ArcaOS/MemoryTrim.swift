#if canImport(Glibc)
import Glibc
#endif

/// Returns the heap's free memory to the kernel once start-up is over, so what stays resident
/// beside the service is what the FUSE server uses, not the start sequence's garbage (parsed
/// JSON, TLS buffers, the raw index). glibc's `malloc_trim` is not visible to Swift's Glibc
/// module, so it is looked up at run time; on a libc without it this does nothing.
public enum MemoryTrim {
    /// Calls `malloc_trim(0)` when the C library has it; true if it released memory.
    @discardableResult
    public static func releaseFreeHeap() -> Bool {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "malloc_trim") else { return false }
        typealias Trim = @convention(c) (Int) -> Int32
        return unsafeBitCast(symbol, to: Trim.self)(0) == 1
    }
}
