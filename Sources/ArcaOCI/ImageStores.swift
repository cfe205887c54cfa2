import ArcaCore

/// Opens the store an `ImageReference` names.
public enum ImageStores {
    public static func source(_ reference: ImageReference) throws -> any ImageSource {
        switch reference {
        case .ociLayout(let path, let tag):
            return try OCILayout(readingFrom: path, tag: tag)
        case .dockerArchive(let path, let name):
            return try DockerArchiveReader(path: path, name: name)
        case .registry:
            throw ArcaError(.unsupported, "\(reference): registries are opened with ArcaRegistry's RegistryStores, not ImageStores")
        }
    }

    public static func destination(_ reference: ImageReference) throws -> any ImageDestination {
        switch reference {
        case .ociLayout(let path, let tag):
            return try OCILayout(writingTo: path, tag: tag)
        case .dockerArchive(let path, let name):
            return try DockerArchiveWriter(path: path, name: name)
        case .registry:
            throw ArcaError(.unsupported, "\(reference): registries are opened with ArcaRegistry's RegistryStores, not ImageStores")
        }
    }
}
