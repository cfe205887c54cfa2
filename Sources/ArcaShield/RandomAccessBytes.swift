import ArcaCore
import SystemPackage

/// Bytes that can be read at any offset from any thread: a blob, or the content of a file.
public protocol RandomAccessBytes: Sendable {
    /// Reads up to `buffer.count` bytes at `offset`; returns how many (0 only at the end).
    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension RandomAccessBytes {
    /// Fills `buffer` from `offset` or throws `integrity` naming `what` when the bytes end early.
    public func readExactly(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer, what: @autoclosure () -> String) throws {
        var filled = 0
        while filled < buffer.count {
            let n = try read(at: offset + UInt64(filled), into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            guard n > 0 else {
                throw ArcaError(.integrity, "\(what()) is truncated: \(filled) of \(buffer.count) bytes at offset \(offset)")
            }
            filled += n
        }
    }
}

/// Bytes held in memory.
public struct MemoryBytes: RandomAccessBytes {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard offset < UInt64(bytes.count) else { return 0 }
        let start = Int(offset)
        let n = min(buffer.count, bytes.count - start)
        bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[start..<(start + n)])) }
        return n
    }
}

/// A read-only file read with `pread`, so one instance serves many threads at once.
public final class FileBytes: RandomAccessBytes {
    public let path: String
    // FileDescriptor is a Sendable wrapper of an Int32 that is only closed in deinit.
    private let fd: FileDescriptor

    public init(path: String) throws {
        self.path = path
        fd = try FileSystem.openForReading(path)
    }

    /// Adopts an open descriptor (for example one from `openat` on a saved directory descriptor).
    public init(adopting fd: FileDescriptor, path: String) {
        self.fd = fd
        self.path = path
    }

    public func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        do {
            return try fd.read(fromAbsoluteOffset: Int64(offset), into: buffer, retryOnInterrupt: true)
        } catch let errno as Errno {
            throw ioError("read", path, errno)
        }
    }

    /// The current size of the file.
    public func size() throws -> UInt64 {
        do {
            return UInt64(try fd.seek(offset: 0, from: .end))
        } catch let errno as Errno {
            throw ioError("stat", path, errno)
        }
    }

    deinit { try? fd.close() }
}
