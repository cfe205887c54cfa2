/// Where a volume's host directory appears inside a sealed container: the runtime (`arca run
/// --volume NAME:HOSTDIR`, or a bind mount in runc's `config.json`, or a Kubernetes volume)
/// binds the host directory at `/.arca/volumes/NAME`, and `arca-init` serves the decrypted tree
/// at the volume's path in the protected root.
public enum VolumeHostLayout {
    /// The directory holding one bind target per volume.
    public static let containerDirectory = "/.arca/volumes"

    /// The in-container path of volume `name`'s host directory.
    public static func containerPath(_ name: String) -> String { containerDirectory + "/" + name }
}
