import ArcaCore
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a docker credential helper (`docker-credential-NAME get`): the server name goes to its
/// standard input, `{"Username": …, "Secret": …}` comes back on its standard output.
struct CredentialHelper {
    var name: String
    /// The PATH the helper is looked up in.
    var path: String?

    var program: String { "docker-credential-\(name)" }

    func get(serverURL: String) throws -> RegistryCredentials? {
        guard !name.isEmpty, name.utf8.allSatisfy({ $0 > 32 && $0 != UInt8(ascii: "/") }) else {
            throw ArcaError(.invalidFormat, "credential helper name \"\(name.prefix(60))\" is not a plain program suffix")
        }
        guard let executable = locate() else {
            throw ArcaError(.notFound, "credential helper \(program) is not installed (not found on PATH); install it or remove it from the auth file")
        }
        let (status, output) = try run(executable, input: Array(serverURL.utf8))
        let text = String(decoding: output, as: UTF8.self)
        if status != 0 {
            // Helpers say "credentials not found in native keychain" when they have nothing.
            if text.lowercased().contains("credentials not found") { return nil }
            throw ArcaError(.io, "credential helper \(program) failed for \(serverURL) (exit status \(status))")
        }
        struct Answer: Decodable {
            var Username: String?
            var Secret: String?
        }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(output)),
              let username = answer.Username, let secret = answer.Secret else {
            throw ArcaError(.invalidFormat, "credential helper \(program) answered something that is not {\"Username\", \"Secret\"} JSON")
        }
        if username.isEmpty && secret.isEmpty { return nil }
        return RegistryCredentials(username: username, password: secret)
    }

    private func locate() -> String? {
        for directory in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(program)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// Runs the helper with `input` on stdin; returns its exit status and (at most 1 MiB of) stdout.
    private func run(_ executable: String, input: [UInt8]) throws -> (Int32, [UInt8]) {
        var toChild: [Int32] = [-1, -1]
        var fromChild: [Int32] = [-1, -1]
        guard pipe(&toChild) == 0 else { throw ArcaError(.io, "cannot create a pipe for \(program)") }
        guard pipe(&fromChild) == 0 else {
            close(toChild[0]); close(toChild[1])
            throw ArcaError(.io, "cannot create a pipe for \(program)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        for fd in [toChild[0], toChild[1], fromChild[0], fromChild[1]] { posix_spawn_file_actions_addclose(&actions, fd) }

        let arguments = [executable, "get"]
        let environment = ["PATH=\(path ?? "/usr/local/bin:/usr/bin:/bin")"] + ["HOME"].compactMap { name in
            environmentValue(name).map { "\(name)=\($0)" }
        }
        var argv = arguments.map { strdup($0) } + [nil]
        var envp = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, &argv, &envp)
        close(toChild[0])
        close(fromChild[1])
        guard spawned == 0 else {
            close(toChild[1]); close(fromChild[0])
            throw ArcaError(.io, "cannot start credential helper \(program) (errno \(spawned))")
        }
        // The server name is far smaller than a pipe buffer, so writing it first cannot block.
        _ = input.withUnsafeBytes { write(toChild[1], $0.baseAddress, $0.count) }
        close(toChild[1])
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while output.count <= 1 << 20 {
            let n = buffer.withUnsafeMutableBytes { read(fromChild[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            output += buffer[..<n]
        }
        close(fromChild[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exitStatus, output)
    }
}
