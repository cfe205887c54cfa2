import ArcaCore
import ArcaOCI

/// Opens registry stores for `docker://` references. ArcaOCI's `ImageStores` cannot (imports go
/// downward), so the CLI asks here for `.registry` references.
public enum RegistryStores {
    public static func source(_ reference: RegistryReference, options: RegistryOptions) throws -> any ImageSource {
        try RegistrySource(reference, options: options)
    }

    public static func destination(_ reference: RegistryReference, options: RegistryOptions) throws -> any ImageDestination {
        try RegistryDestination(reference, options: options)
    }
}
