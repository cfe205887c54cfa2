import ArcaCore

/// Resolves an OCI `USER` value (`name`, `uid`, `name:group`, `uid:gid`) against the image's own
/// /etc/passwd and /etc/group contents.
public enum UserDatabase {
    public static func resolve(_ user: String, passwd: String, group: String) throws -> ServiceIdentity {
        guard !user.isEmpty else { return ServiceIdentity(uid: 0, gid: 0) }
        let parts = user.split(separator: ":", maxSplits: 1).map(String.init)
        let users = table(passwd)
        var uid: UInt32
        var gid: UInt32
        if let number = UInt32(parts[0]) {
            uid = number
            gid = users.first { UInt32($0[2]) == number }.flatMap { UInt32($0[3]) } ?? number
        } else {
            guard let entry = users.first(where: { $0[0] == parts[0] }), let u = UInt32(entry[2]), let g = UInt32(entry[3]) else {
                throw ArcaError(.notFound, "user \(parts[0]) is not in the image's /etc/passwd")
            }
            uid = u
            gid = g
        }
        if parts.count == 2 {
            if let number = UInt32(parts[1]) {
                gid = number
            } else {
                guard let entry = table(group).first(where: { $0[0] == parts[1] }), let g = UInt32(entry[2]) else {
                    throw ArcaError(.notFound, "group \(parts[1]) is not in the image's /etc/group")
                }
                gid = g
            }
        }
        let name = users.first { UInt32($0[2]) == uid }?[0]
        let supplementary = table(group).filter { entry in
            entry.count > 3 && name != nil && entry[3].split(separator: ",").contains { String($0) == name }
        }.compactMap { UInt32($0[2]) }
        return ServiceIdentity(uid: uid, gid: gid, groups: Array(Set(supplementary + [gid])).sorted())
    }

    /// Lines of a colon-separated database with at least four fields.
    static func table(_ text: String) -> [[String]] {
        text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#") else { return nil }
            let fields = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            return fields.count >= 4 ? fields : nil
        }
    }
}
