import ArcaCore
import ArcaTestSupport
import Foundation
import Synchronization
import Testing

/// fsx-style: random writes, truncates, renames, creates, unlinks and fsyncs through the mount,
/// against an in-memory model; each iteration SIGKILLs the server at a random moment and
/// remounts. After each remount the tree must equal the model as of the last fsync that returned
/// (or, if the kill hit an fsync, the model at that fsync): every fsynced operation is present, no
/// later one leaked half-way, and every file reads without EIO.
/// `ARCA_VOLUME_FSX_ITERATIONS` sets the iteration count (default 200, the issue's test tier), `ARCA_VOLUME_FSX_SEED` the seed.
@Suite(.serialized) struct VolumeFsxTests {
    typealias Model = [String: [UInt8]?]  // path -> content, nil for a directory

    @Test func randomOperationsWithKillsMatchTheModel() async throws {
        let environment = ProcessInfo.processInfo.environment
        let iterations = environment["ARCA_VOLUME_FSX_ITERATIONS"].flatMap { Int($0) } ?? 200
        let seed = environment["ARCA_VOLUME_FSX_SEED"].flatMap { UInt64($0) } ?? 20_261_126
        var random = TestRandom(seed: seed)
        try await Fixture.withTemporaryDirectory { dir in
            var synced: Model = ["d1": [UInt8]?.none, "d2": [UInt8]?.none]
            do {
                let server = try VolumeServer(directory: dir)
                defer { server.stop() }
                try Posix.check(mkdir(server.mountpoint + "/d1", 0o755))
                try Posix.check(mkdir(server.mountpoint + "/d2", 0o755))
            }
            var killsDuringSync = 0
            var operations = 0
            var journal: [String] = []  // the operations of this and the previous iteration, for failures
            for iteration in 0..<iterations {
                let server = try VolumeServer(directory: dir, deadline: 120)
                defer { server.kill() }
                let mnt = server.mountpoint
                let found = try Posix.tree(mnt)
                #expect(found == synced, "iteration \(iteration) (seed \(seed)): \(Self.difference(found, synced)); \(server.errors); operations: \(journal.joined(separator: ", "))")
                journal = journal.last.map { ["| previous iteration ended with: \($0)"] } ?? []
                if found != synced { return }
                var model = synced

                // The flag is set before the kill: an error seen while it is unset cannot come from the kill
                // (the server's FUSE connection can fail before the process is reaped, so `isRunning` lags).
                let killFired = KillFlag()
                let killer = Thread { [pid = server.process.pid, delay = UInt32.random(in: 2_000...80_000, using: &random)] in
                    usleep(delay)
                    killFired.value.store(true, ordering: .sequentiallyConsistent)
                    kill(pid, SIGKILL)
                }
                killer.start()
                var pendingSync: Model?
                operations: for _ in 0..<10_000 {
                    pendingSync = nil
                    do {
                        try step(&model, mnt: mnt, random: &random, pendingSync: &pendingSync, journal: &journal)
                        operations += 1
                        if let pendingSync { synced = pendingSync }
                    } catch let error as Errno where [ENOTCONN, ECONNABORTED, ENOENT, EIO].contains(error.code) {
                        journal.append("failed with \(error.code)")
                        if killFired.value.load(ordering: .sequentiallyConsistent) || !server.process.isRunning { break operations }
                        Issue.record("iteration \(iteration): \(error) while the server still runs; \(server.errors)")
                        return
                    }
                    if !server.process.isRunning { break }
                }
                server.kill()
                while !killer.isFinished { usleep(1_000) }
                if let pendingSync {
                    // The kill hit an fsync: the volume may hold either state; look and accept both.
                    killsDuringSync += 1
                    let probe = try VolumeServer(directory: dir, deadline: 120)
                    defer { probe.kill() }
                    let state = try Posix.tree(probe.mountpoint)
                    #expect(state == synced || state == pendingSync, "iteration \(iteration): neither state after a kill during fsync")
                    journal.append(state == pendingSync ? "probe: the fsync made it" : "probe: the fsync did not make it")
                    if state == pendingSync { synced = pendingSync }
                }
            }
            let last = try VolumeServer(directory: dir)
            defer { last.stop() }
            #expect(try Posix.tree(last.mountpoint) == synced)
            print("fsx: \(iterations) iterations, seed \(seed), \(operations) operations, \(killsDuringSync) kills during fsync, \(synced.count) paths at the end")
        }
    }

    /// The paths where `found` and `expected` differ, with sizes and the first differing offset.
    static func difference(_ found: Model, _ expected: Model) -> String {
        var lines: [String] = []
        for path in Set(found.keys).union(expected.keys).sorted() where found[path] != expected[path] {
            func describe(_ value: [UInt8]??) -> String {
                switch value {
                case .none: "absent"
                case .some(.none): "directory"
                case .some(.some(let bytes)): "\(bytes.count) bytes"
                }
            }
            var line = "\(path): found \(describe(found[path])), expected \(describe(expected[path]))"
            if case .some(.some(let a)) = found[path], case .some(.some(let b)) = expected[path],
               let first = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                line += ", first difference at \(first)"
            }
            lines.append(line)
        }
        return "the tree differs from the last fsynced model: " + lines.joined(separator: "; ")
    }

    /// One random operation on the mount and the model. An fsync sets `pendingSync` to the model
    /// it makes durable before calling it.
    private func step(_ model: inout Model, mnt: String, random: inout TestRandom, pendingSync: inout Model?, journal: inout [String]) throws {
        let files = model.keys.filter { model[$0]! != nil }.sorted()
        let directories = ["d1", "d2"]
        func newPath() -> String { "\(directories.randomElement(using: &random)!)/f\(Int.random(in: 0..<12, using: &random))" }
        switch Int.random(in: 0..<100, using: &random) {
        case 0..<35 where !files.isEmpty:  // write at a random offset, maybe past the end
            let path = files.randomElement(using: &random)!
            var content = model[path]!!
            let offset = Int.random(in: 0...(content.count + 5_000), using: &random)
            let bytes = random.bytes(Int.random(in: 1...20_000, using: &random))
            let fd = open(mnt + "/" + path, O_WRONLY | O_CLOEXEC)
            try Posix.check(fd)
            defer { close(fd) }
            journal.append("write \(path) \(offset)+\(bytes.count) (size \(content.count))")
            try Posix.pwrite(fd, bytes, offset: offset)
            if content.count < offset + bytes.count { content += [UInt8](repeating: 0, count: offset + bytes.count - content.count) }
            content.replaceSubrange(offset..<offset + bytes.count, with: bytes)
            model[path] = .some(content)
        case 0..<50 where !files.isEmpty:  // truncate, down or up
            let path = files.randomElement(using: &random)!
            var content = model[path]!!
            let size = Int.random(in: 0...(content.count + 10_000), using: &random)
            journal.append("truncate \(path) \(content.count)->\(size)")
            try Posix.check(truncate(mnt + "/" + path, off_t(size)))
            content = size <= content.count ? Array(content[..<size]) : content + [UInt8](repeating: 0, count: size - content.count)
            model[path] = .some(content)
        case 0..<62 where !files.isEmpty:  // rename within or across directories (maybe replacing)
            let from = files.randomElement(using: &random)!
            let to = newPath()
            journal.append("rename \(from) \(to)")
            try Posix.check(rename(mnt + "/" + from, mnt + "/" + to))
            if from != to {
                model[to] = model[from]!
                model[from] = nil
            }
        case 0..<70 where !files.isEmpty:  // unlink
            let path = files.randomElement(using: &random)!
            journal.append("unlink \(path)")
            try Posix.check(unlink(mnt + "/" + path))
            model[path] = nil
        case 0..<90:  // create (or truncate) with content
            let path = newPath()
            let bytes = random.bytes(Int.random(in: 0...12_000, using: &random))
            journal.append("create \(path) \(bytes.count)")
            try Posix.writeFile(mnt + "/" + path, bytes)
            model[path] = .some(bytes)
        default:  // fsync a file or a directory
            let path = files.randomElement(using: &random) ?? "d1"
            let fd = open(mnt + "/" + path, O_RDONLY | O_CLOEXEC)
            try Posix.check(fd)
            defer { close(fd) }
            pendingSync = model
            journal.append("fsync \(path)")
            try Posix.check(Bool.random(using: &random) ? fsync(fd) : fdatasync(fd))
        }
    }
}

/// Set by the killer thread just before it sends SIGKILL.
private final class KillFlag: Sendable {
    let value = Atomic<Bool>(false)
}
