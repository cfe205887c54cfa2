import ArcaCore
import Glibc
import Testing
@testable import ArcaInit

@Suite("arca-init command line")
struct InitCommandLineTests {
    @Test("--version and --help, with their short forms")
    func flags() throws {
        #expect(try InitCommandLine.parse(["--version"]) == .version)
        #expect(try InitCommandLine.parse(["-V"]) == .version)
        #expect(try InitCommandLine.parse(["--help"]) == .help)
        #expect(try InitCommandLine.parse(["-h"]) == .help)
        #expect(InitVersion.line == "arca-init " + InitVersion.current)
    }

    @Test("no argument starts the service; host arguments come after --")
    func start() throws {
        #expect(try InitCommandLine.parse([]) == .start([]))
        #expect(try InitCommandLine.parse(["--", "-p", "80"]) == .start(["-p", "80"]))
    }

    @Test("two arguments or an unknown one are usage errors naming the problem")
    func errors() throws {
        for arguments in [["--version", "--help"], ["--bogus"], [String(repeating: "x", count: 10_000)]] as [[String]] {
            let error = try #require(throws: ArcaError.self) { _ = try InitCommandLine.parse(arguments) }
            #expect(error.code == .invalidArgument)
            #expect(error.message.count < 200, "the message stays short even for a huge argument")
        }
        #expect(InitMain.run(arguments: ["--bogus"]) == InitMain.usageStatus)
    }

    @Test("argv is converted without the program name")
    func argv() {
        let strings = ["/.arca/bin/arca-init", "--version", "é"]
        var pointers = strings.map { strdup($0) }
        defer { pointers.forEach { free($0) } }
        pointers.append(nil)
        let arguments = pointers.withUnsafeMutableBufferPointer { buffer in
            InitMain.arguments(count: Int32(strings.count), vector: buffer.baseAddress!)
        }
        #expect(arguments == ["--version", "é"])
        #expect(pointers.withUnsafeMutableBufferPointer { InitMain.arguments(count: 1, vector: $0.baseAddress!) }.isEmpty)
    }

    @Test("the running test process's arguments were captured before main")
    func captured() {
        #expect(InitMain.capturedArguments() == Array(CommandLine.arguments.dropFirst()))
        #expect(InitMain.commandLineArguments() == InitMain.capturedArguments())
    }
}
