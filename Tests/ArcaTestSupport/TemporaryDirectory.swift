import ArcaCore

/// A scoped temporary directory: created for one test, removed afterwards.
public enum Fixture {
    public static func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
        let path = try FileSystem.makeTemporaryDirectory(prefix: "arca-test")
        defer { try? FileSystem.removeTree(path) }
        return try await body(path)
    }
}
