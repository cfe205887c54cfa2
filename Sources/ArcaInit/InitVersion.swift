/// The version of the runtime; the runtime layer's digest changes with it.
public enum InitVersion {
    public static let current = "0.1.0"
    /// The line `arca-init --version` prints.
    public static var line: String { "arca-init \(current)" }
}
