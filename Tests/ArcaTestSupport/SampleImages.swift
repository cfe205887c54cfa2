import ArcaArchive
import ArcaCore
import Foundation

/// Real images built by real tools for the interoperability tests.
public enum SampleImages {
    /// Builds a two-layer OCI image with umoci in `directory/umoci`, tagged `sample`, and returns
    /// the layout path. Layer 1 holds a varied tree (long and non-ASCII names, symlinks, a
    /// hardlink, a setuid file, an empty file, a 1 MiB file); layer 2 deletes a file and replaces
    /// a directory's contents, so umoci writes whiteouts.
    public static func umociImage(in directory: String) throws -> String {
        let layout = directory + "/umoci"
        let bundle = directory + "/bundle"
        try Tool.check("umoci", ["init", "--layout", layout])
        try Tool.check("umoci", ["new", "--image", layout + ":sample"])
        try Tool.check("umoci", ["unpack", "--image", layout + ":sample", bundle])
        let root = bundle + "/rootfs"
        try populate(root)
        try Tool.check("umoci", ["repack", "--refresh-bundle", "--image", layout + ":sample", bundle])
        // Second layer: a deletion (plain whiteout) and a replaced directory (opaque or per-file whiteouts).
        try FileManager.default.removeItem(atPath: root + "/etc/remove-me")
        try FileManager.default.removeItem(atPath: root + "/opt/app")
        try FileManager.default.createDirectory(atPath: root + "/opt/app", withIntermediateDirectories: true)
        try write("replaced in layer 2\n", to: root + "/opt/app/new.txt")
        try Tool.check("umoci", ["repack", "--image", layout + ":sample", bundle])
        try Tool.check("umoci", ["config", "--image", layout + ":sample", "--config.entrypoint", "/bin/sh",
                                 "--config.env", "GREETING=hello", "--config.workingdir", "/opt/app",
                                 "--config.exposedports", "8080/tcp", "--config.volume", "/data"])
        return layout
    }

    /// Fills `root` with a varied tree.
    public static func populate(_ root: String) throws {
        let fm = FileManager.default
        for dir in ["bin", "etc", "opt/app/lib", "usr/share/doc", "data"] {
            try fm.createDirectory(atPath: "\(root)/\(dir)", withIntermediateDirectories: true)
        }
        try write("#!/bin/sh\necho hi\n", to: root + "/bin/hello", mode: 0o755)
        try write("root:x:0:0:root:/root:/bin/sh\n", to: root + "/etc/passwd")
        try write("gone in layer 2\n", to: root + "/etc/remove-me")
        try write("", to: root + "/etc/empty")
        try write("setuid\n", to: root + "/bin/su-like", mode: 0o4755)
        var big = [UInt8](repeating: 0, count: 1 << 20)
        var state: UInt64 = 0x9E3779B97F4A7C15
        for index in big.indices {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            big[index] = UInt8(truncatingIfNeeded: state >> 33)
        }
        try Data(big).write(to: URL(fileURLWithPath: root + "/opt/app/lib/blob.bin"))
        try write("old app\n", to: root + "/opt/app/main.txt")
        let longName = String(repeating: "long-directory-name/", count: 6) + String(repeating: "f", count: 120)
        try fm.createDirectory(atPath: "\(root)/usr/share/doc/\((longName as NSString).deletingLastPathComponent)", withIntermediateDirectories: true)
        try write("long\n", to: "\(root)/usr/share/doc/\(longName)")
        try write("unicode\n", to: root + "/usr/share/doc/grüße-ünïcødé.txt")
        try fm.createSymbolicLink(atPath: root + "/bin/sh-link", withDestinationPath: "hello")
        try fm.createSymbolicLink(atPath: root + "/etc/absolute-link", withDestinationPath: "/etc/passwd")
        try fm.linkItem(atPath: root + "/etc/passwd", toPath: root + "/etc/passwd-hardlink")
    }

    public static func write(_ text: String, to path: String, mode: Int = 0o644) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    /// The cached mmdebstrap Debian 12 + python3 image (built by `scripts/python-image.sh`).
    public static func pythonImage() throws -> String {
        let result = try Tool.check(Tool.repositoryRoot + "/scripts/python-image.sh", [Tool.cacheDirectory])
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `umoci unpack` of `reference` (oci:DIR:TAG form without the transport) into `bundle`; returns the rootfs tree manifest.
    public static func umociTree(layout: String, tag: String, bundle: String) throws -> [String] {
        try Tool.check("umoci", ["unpack", "--image", "\(layout):\(tag)", bundle])
        return try TreeManifest.lines(directory: bundle + "/rootfs")
    }
}
