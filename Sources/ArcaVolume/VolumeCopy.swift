import ArcaCore
import ArcaCrypto
import Crypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Whole-volume operations for offline tools: copying a tree between two open volumes (key
/// rotation re-encrypts by copying into a volume under the new key) and reading the newest
/// state a host directory holds (what `arca volume reset-anchor --host-dir` anchors).
public enum VolumeCopy {
    /// Copies every file, directory and symlink of `source` into the empty root of `target`,
    /// with modes, owners and modification times, then commits `target`. Returns the number
    /// of nodes copied.
    @discardableResult
    public static func copyTree(from source: Volume, to target: Volume) throws -> Int {
        let root = try source.attributes(inode: Volume.rootInode)
        _ = try target.setAttributes(inode: Volume.rootInode, AttributeUpdate(permissions: root.mode & 0o7777, uid: root.uid, gid: root.gid))
        var count = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        // Directories' times are set after their contents (creating entries changes them).
        var directoryTimes: [(UInt64, VolumeAttributes)] = [(Volume.rootInode, root)]
        var pending: [(from: UInt64, to: UInt64)] = [(Volume.rootInode, Volume.rootInode)]
        while let (from, to) = pending.popLast().map({ ($0.from, $0.to) }) {
            for (name, entry) in try source.list(inode: from) {
                let permissions = entry.mode & 0o7777
                let made: VolumeAttributes
                switch entry.kind {
                case .directory:
                    made = try target.makeDirectory(parent: to, name: name, permissions: permissions, uid: entry.uid, gid: entry.gid)
                    pending.append((entry.inode, made.inode))
                    directoryTimes.append((made.inode, entry))
                case .symlink:
                    made = try target.makeSymlink(parent: to, name: name, target: try source.readLink(inode: entry.inode),
                                                  uid: entry.uid, gid: entry.gid)
                case .file:
                    made = try target.create(parent: to, name: name, permissions: permissions, uid: entry.uid, gid: entry.gid)
                    _ = try source.open(inode: entry.inode)
                    defer { source.release(inode: entry.inode) }
                    var offset: UInt64 = 0
                    while offset < entry.size {
                        let n = try buffer.withUnsafeMutableBytes { try source.read(inode: entry.inode, offset: offset, into: $0) }
                        if n == 0 { break }
                        _ = try buffer.withUnsafeBytes { try target.write(inode: made.inode, offset: offset, bytes: UnsafeRawBufferPointer(rebasing: $0[..<n])) }
                        offset += UInt64(n)
                    }
                    _ = try target.setAttributes(inode: made.inode, AttributeUpdate(size: entry.size))
                }
                if entry.kind != .directory {
                    _ = try target.setAttributes(inode: made.inode, AttributeUpdate(
                        modificationTime: (entry.modificationSeconds, entry.modificationNanoseconds)))
                }
                count += 1
            }
        }
        for (inode, entry) in directoryTimes.reversed() {
            _ = try target.setAttributes(inode: inode, AttributeUpdate(modificationTime: (entry.modificationSeconds, entry.modificationNanoseconds)))
        }
        try target.commit()
        return count
    }

    /// The newest version whose metadata file `path` holds, with its root hash: the state to
    /// anchor after restoring that directory from a backup. Reads no key.
    public static func newestState(at path: String) throws -> AnchorPoint {
        let meta = path + "/meta"
        let names = try FileSystem.listDirectory(meta)
        guard let newest = names.compactMap({ name -> UInt64? in
            name.utf8.count == 16 ? UInt64(name, radix: 16) : nil
        }).max() else {
            throw ArcaError(.notFound, "\(path) holds no volume version (no metadata file in \(meta))")
        }
        let bytes = try FileSystem.readFile(meta + "/" + MetadataFile.name(version: newest), limit: MetadataFile.maximumSize)
        return AnchorPoint(version: newest, root: Hash256(SHA256.hash(data: bytes)))
    }
}
