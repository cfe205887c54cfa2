import ArcaCore
import ArcaKeeperAPI

/// Where the CLI keeps its client identity: `$ARCA_HOME`, else `$HOME/.config/arca`.
/// The key (0600) is created on first use; its SHA-256 SPKI fingerprint owns the sessions it creates.
public enum ClientIdentityStore {
    public static func directory() -> String {
        if let home = environmentValue("ARCA_HOME"), !home.isEmpty { return home }
        return "\(environmentValue("HOME") ?? "/root")/.config/arca"
    }

    public static func loadOrCreate(directory: String = directory()) throws -> TLSIdentity {
        try TLSIdentity.loadOrCreate(directory: directory, name: "client", commonName: "arca-client").identity
    }
}
