#if canImport(Glibc)
import Glibc
#endif
import ArcaCore
import Synchronization

/// Draws progress on standard error: a bar that redraws in place on a terminal, and a plain
/// line every few seconds otherwise (CI logs).
public final class TerminalProgress: ProgressObserver {
    private struct State {
        var phase = ""
        var total: Int64 = 0
        var done: Int64 = 0
        var lastDraw: ContinuousClock.Instant?
        var drewBar = false
    }

    private let state = Mutex(State())
    private let isTerminal: Bool
    private let interval: Duration

    public init(isTerminal: Bool = isatty(2) != 0) {
        self.isTerminal = isTerminal
        self.interval = isTerminal ? .milliseconds(100) : .seconds(5)
    }

    public func begin(_ phase: String, total: Int64) {
        state.withLock { state in
            state = State(phase: phase, total: total, done: 0, lastDraw: ContinuousClock.now, drewBar: false)
        }
        if !isTerminal { printError("\(phase)…") }
    }

    public func advance(by count: Int64) {
        let line: String? = state.withLock { state in
            state.done += count
            let now = ContinuousClock.now
            if let last = state.lastDraw, now - last < interval { return nil }
            state.lastDraw = now
            state.drewBar = isTerminal
            return render(state)
        }
        guard let line else { return }
        if isTerminal {
            StandardError().writeRaw("\r\u{1B}[K" + line)
        } else {
            printError(line)
        }
    }

    public func end() {
        let drew = state.withLock { $0.drewBar }
        if isTerminal && drew { StandardError().writeRaw("\r\u{1B}[K") }
    }

    private func render(_ state: State) -> String {
        guard state.total > 0 else { return "\(state.phase): \(formatBytes(state.done))" }
        let fraction = min(1, Double(state.done) / Double(state.total))
        let percent = Int(fraction * 100)
        let amounts = "\(formatBytes(state.done)) of \(formatBytes(state.total))"
        guard isTerminal else { return "\(state.phase): \(percent)% (\(amounts))" }
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        return "[\(bar)] \(percent)% \(amounts) \(state.phase)"
    }
}

extension StandardError {
    func writeRaw(_ text: String) {
        var copy = self
        copy.write(text)
    }
}
