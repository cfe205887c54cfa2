import ArcaCore
import ArcaCrypto

/// What `verify` checked.
public struct VerifyReport: Hashable, Sendable {
    public init() {}
    public var entries = 0
    public var authenticatedChunks: UInt64 = 0
    public var encryptedChunks: UInt64 = 0
    /// Blob chunks opened (every chunk of every stream, referenced or not).
    public var blobChunks: UInt64 = 0
}

extension ShieldReader {
    /// Walks every entry in path order and every chunk of every regular file, and throws on the
    /// first bad one, naming the file and the chunk. Authenticated files are read through
    /// `authenticatedContent` (pass nil to check only the blob); their content must be exactly
    /// `size` bytes long.
    public func verify(authenticatedContent: ((IndexEntry) throws -> any RandomAccessBytes)?) throws -> VerifyReport {
        var report = VerifyReport()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        for entry in index.entries {
            report.entries += 1
            guard entry.type == .regular else { continue }
            let count = index.layout.chunkCount(size: entry.size)
            switch entry.protection {
            case .encrypted:
                for i in 0..<count {
                    let n = try read(entry, offset: index.layout.chunkStart(index: i), into: buffer)
                    guard n == index.layout.chunkLength(index: i, size: entry.size) else {
                        throw ArcaError(.integrity, "encrypted file \(entry.path), chunk \(i): short read of \(n) bytes")
                    }
                    report.encryptedChunks += 1
                }
            case .authenticated:
                guard let authenticatedContent else { continue }
                let content = try authenticatedContent(entry)
                for i in 0..<count {
                    let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[..<index.layout.chunkLength(index: i, size: entry.size)])
                    do {
                        try content.readExactly(at: index.layout.chunkStart(index: i), into: slice, what: "content")
                    } catch let error as ArcaError {
                        throw ArcaError(error.code, "authenticated file \(entry.path), chunk \(i): \(error.message)")
                    }
                    try verifyChunk(entry, chunk: i, plaintext: UnsafeRawBufferPointer(slice))
                    report.authenticatedChunks += 1
                }
                var probe: UInt8 = 0
                guard try withUnsafeMutableBytes(of: &probe, { try content.read(at: entry.size, into: $0) }) == 0 else {
                    throw ArcaError(.integrity, "authenticated file \(entry.path): longer than the \(entry.size) bytes in the index")
                }
            }
        }
        // Then every chunk of every blob: a stream may hold bytes no entry names (a file a later
        // layer replaced), and those must be intact too.
        for (k, stream) in index.streams.enumerated() where !index.isLocked {
            for j in 0..<stream.chunkCount {
                do {
                    try readBlobChunk(stream: k, j, into: buffer)
                } catch let error as ArcaError {
                    throw ArcaError(error.code, "stream \(k) (\(stream.streamId.hex.prefix(12))…): \(error.message)")
                }
                report.blobChunks += 1
            }
        }
        return report
    }
}
