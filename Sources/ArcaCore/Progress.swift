import Synchronization

/// Receives progress of a long operation; implementations must be thread-safe.
public protocol ProgressObserver: Sendable {
    /// A new phase with its total size in bytes (0 if unknown).
    func begin(_ phase: String, total: Int64)
    /// `count` more bytes of the current phase are done.
    func advance(by count: Int64)
    func end()
}

/// Reports nothing.
public struct SilentProgress: ProgressObserver {
    public init() {}
    public func begin(_ phase: String, total: Int64) {}
    public func advance(by count: Int64) {}
    public func end() {}
}

/// A source that reports every byte read through it to a progress observer.
public final class ProgressSource: ByteSource {
    private let base: any ByteSource
    private let observer: any ProgressObserver

    public init(_ base: any ByteSource, observer: any ProgressObserver) {
        self.base = base
        self.observer = observer
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try base.read(into: buffer)
        if n > 0 { observer.advance(by: Int64(n)) }
        return n
    }
}

/// A source that copies everything read through it into a sink (without finishing the sink).
public final class TeeSource: ByteSource {
    private let base: any ByteSource
    private let sink: any ByteSink

    public init(_ base: any ByteSource, copyingTo sink: any ByteSink) {
        self.base = base
        self.sink = sink
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try base.read(into: buffer)
        if n > 0 { try sink.write(UnsafeRawBufferPointer(rebasing: buffer[..<n])) }
        return n
    }
}
