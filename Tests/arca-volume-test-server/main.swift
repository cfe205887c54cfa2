// A child process that serves one volume over FUSE for the mounted tests, so that a crash test
// can SIGKILL the server without killing the test runner.
//
//   arca-volume-test-server HOST_DIR MOUNTPOINT KEY_FILE ANCHOR_FILE
//   (ARCA_VOLUME_CHUNK_SIZE=N: the chunk size of a volume it creates; 16384 by default)
//
// Opens the volume (creating it when HOST_DIR holds none), mounts it, prints "ready" on stdout,
// and serves until SIGTERM or SIGINT, then unmounts and closes (commits) the volume. Errors go to
// stderr with exit status 1; nothing here ever touches the mount it serves.
import ArcaCore
import ArcaCrypto
import ArcaFUSE
import ArcaVolume
import ArcaVolumeFS

#if canImport(Glibc)
import Glibc
#endif

/// Writes a line to a descriptor directly (stdio's globals are not concurrency-safe).
func say(_ line: String, to fd: Int32) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
}

func fail(_ message: String) -> Never {
    say("arca-volume-test-server: \(message)", to: 2)
    exit(1)
}

let arguments = CommandLine.arguments
guard arguments.count == 5 else { fail("usage: arca-volume-test-server HOST_DIR MOUNTPOINT KEY_FILE ANCHOR_FILE") }
let (hostPath, mountpoint, keyPath, anchorPath) = (arguments[1], arguments[2], arguments[3], arguments[4])

var signals = sigset_t()
sigemptyset(&signals)
sigaddset(&signals, SIGTERM)
sigaddset(&signals, SIGINT)
pthread_sigmask(SIG_BLOCK, &signals, nil)  // before any thread starts, so all inherit the mask

// ARCA_VOLUME_CHUNK_SIZE picks the chunk size of a new volume (benchmarks compare them).
let chunkSize = getenv("ARCA_VOLUME_CHUNK_SIZE").flatMap { Int(String(cString: $0)) } ?? Volume.defaultChunkSize

do {
    let key = try KeyFile.read(path: keyPath)
    let anchor = FileVolumeAnchor(path: anchorPath)
    let volume = FileSystem.exists(hostPath + "/volume")
        ? try Volume.open(at: hostPath, key: key, anchor: anchor)
        : try Volume.create(at: hostPath, key: key, anchor: anchor, chunkSize: chunkSize)
    let fs = VolumeFileSystem(volume: volume, log: { say("arca-volume-test-server: \($0)", to: 2) })
    let mount = try FUSEMount.mount(fs, at: mountpoint, options: VolumeFileSystem.mountOptions)
    say("ready version \(volume.version)", to: 1)
    var received: Int32 = 0
    sigwait(&signals, &received)
    try mount.unmount(timeout: 10)
    try volume.close()
    exit(0)
} catch {
    fail("\(error)")
}
