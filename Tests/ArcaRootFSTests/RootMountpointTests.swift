import ArcaCore
import ArcaFUSE
import ArcaRootFS
import ArcaShield
import ArcaTestSupport
import Foundation
import Testing

/// Mountpoints for secret files: paths the index lacks appear as empty read-only files, so the
/// runtime can bind a secret anywhere; existing entries stay as the index says.
@Suite struct RootMountpointTests {
    private func root(_ dir: String, mountpoints: [String]) throws -> ProtectedRoot {
        let hello = Array("hello".utf8)
        let inputs = [
            ShieldInput(entry: IndexEntry(path: "/etc", type: .directory, mode: 0o755)),
            ShieldInput(entry: IndexEntry(path: "/etc/app.conf", type: .regular, mode: 0o644, uid: 5, size: 5), content: MemoryBytes(hello)),
            ShieldInput(entry: IndexEntry(path: "/etc/link", type: .symlink, linkTarget: "app.conf")),
        ]
        let written = try ShieldWriter.write(inputs, masterKey: RootFixture.masterKey, blob: MemorySink())
        let index = try ShieldIndex.parse(written.index.bytes, expectedRoot: written.index.root, masterKey: RootFixture.masterKey)
        try FileSystem.makeDirectories(dir + "/lower/etc")
        try FileSystem.writeAtomically(hello, to: dir + "/lower/etc/app.conf")
        return try ProtectedRoot(index: index, masterKey: RootFixture.masterKey, lower: LowerTree(path: dir + "/lower"), blobs: [],
                                 mountpoints: mountpoints)
    }

    private func lookup(_ root: ProtectedRoot, _ path: String) throws -> FileAttributes {
        var inode: UInt64 = 1
        var attributes = try root.attributes(inode: 1)
        for component in path.split(separator: "/") {
            attributes = try Array(component.utf8).withUnsafeBytes { try root.lookup(parent: inode, name: $0) }
            inode = attributes.inode
        }
        return attributes
    }

    @Test func missingPathsBecomeEmptyReadOnlyFilesInSynthesizedDirectories() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let root = try root(dir, mountpoints: ["/run/secrets/key", "/etc/token", "/etc/app.conf"])
            let key = try lookup(root, "/run/secrets/key")
            #expect(key.mode == S_IFREG | 0o400 && key.size == 0 && key.uid == 0)
            #expect(try lookup(root, "/run/secrets").mode == S_IFDIR | 0o755)
            let token = try lookup(root, "/etc/token")
            #expect(token.mode == S_IFREG | 0o400 && token.size == 0)
            var buffer = [UInt8](repeating: 0, count: 16)
            let handle = try root.open(inode: token.inode, flags: O_RDONLY)
            #expect(try buffer.withUnsafeMutableBytes { try root.read(inode: token.inode, handle: handle, offset: 0, into: $0) } == 0)
            // An existing file keeps its own entry: the bind mount covers it at run time.
            let existing = try lookup(root, "/etc/app.conf")
            #expect(existing.mode == S_IFREG | 0o644 && existing.size == 5 && existing.uid == 5)
            #expect(root.inodeCount == 8)  // /, /etc, app.conf, link, /run, /run/secrets, key, token
        }
    }

    @Test func aMountpointBelowAFileOrLinkIsRefused() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            for path in ["/etc/app.conf/key", "/etc/link/key"] {
                #expect(throws: ArcaError.self) { _ = try root(dir, mountpoints: [path]) }
            }
        }
    }
}
