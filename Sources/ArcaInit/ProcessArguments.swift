// On Linux, Swift's `CommandLine.arguments` is read from /proc/self/cmdline, which does not exist
// before /proc is mounted (arca-init as PID 1, or under a bare chroot). glibc calls every
// `.init_array` function with (argc, argv, envp) before `main`, so one placed there captures the
// kernel's argv, which always exists.

/// Written once, before `main` and before any thread exists; read-only afterwards.
nonisolated(unsafe) private var capturedCount: Int32 = 0
/// Same single write before `main` as `capturedCount`.
nonisolated(unsafe) private var capturedVector: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?

private func captureArguments(_ count: Int32, _ vector: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                              _ environment: UnsafeMutableRawPointer?) {
    capturedCount = count
    capturedVector = vector
}

@section(".init_array") @used
private let captureArgumentsEntry: @convention(c) (Int32, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, UnsafeMutableRawPointer?) -> Void
    = captureArguments

extension InitMain {
    /// The process's arguments after the program name: the argv glibc handed to `.init_array`,
    /// or `CommandLine.arguments` where that did not happen (another libc).
    public static func commandLineArguments() -> [String] {
        capturedArguments() ?? Array(CommandLine.arguments.dropFirst())
    }

    /// The argv captured before `main` (after the program name), or nil if no libc handed it over.
    static func capturedArguments() -> [String]? {
        guard capturedCount > 0, let vector = capturedVector else { return nil }
        return arguments(count: capturedCount, vector: vector)
    }
}
