import ArcaCore
import ArcaMeasurement
import ArcaVolume
import Foundation

/// `arca run --volume NAME:HOSTDIR`: binds each volume's host directory into the runc bundle at
/// `/.arca/volumes/NAME`, where `arca-init` finds it. Volumes of the measured config not named
/// on the command line get a default host directory, `$ARCA_HOME/volumes/SESSION/NAME` (0700).
enum VolumeBindings {
    /// Parses `NAME:HOSTDIR` flag values.
    static func parse(_ values: [String]) throws -> [String: String] {
        var result: [String: String] = [:]
        for value in values {
            guard let colon = value.firstIndex(of: ":"), colon != value.startIndex, value.index(after: colon) != value.endIndex else {
                throw ArcaError(.invalidArgument, "--volume \(value) is not NAME:HOSTDIR (for example data:/srv/app-data)")
            }
            let name = String(value[..<colon])
            guard result[name] == nil else { throw ArcaError(.invalidArgument, "--volume \(name) is given twice") }
            result[name] = String(value[value.index(after: colon)...])
        }
        return result
    }

    /// Adds the bind mounts to the bundle's `config.json` and creates the host directories and
    /// their mount targets in the bundle's root.
    static func add(_ values: [String], bundle: String, home: String) throws {
        let given = try parse(values)
        let rootfs = bundle + "/rootfs"
        let configBytes = try FileSystem.readFile(rootfs + "/" + SealedLayout.measuredConfigPath, limit: 1 << 20)
        let measured = try MeasuredConfig.parse(configBytes, source: SealedLayout.measuredConfigPath)
        let names = measured.policy.compactMap { rule -> String? in
            if case .volume(let name) = rule.pathClass { return name }
            return nil
        }
        for name in given.keys where !names.contains(name) {
            throw ArcaError(.invalidArgument, "--volume \(name): the image has no volume \(name) (it has \(names.isEmpty ? "none" : names.joined(separator: ", ")))")
        }
        guard !names.isEmpty else { return }
        let session = (measured.keeper.session ?? "arca/sealed").replacingOccurrences(of: "/", with: "_")
        let configPath = bundle + "/config.json"
        guard var config = try JSONSerialization.jsonObject(with: Data(try FileSystem.readFile(configPath, limit: 1 << 20))) as? [String: Any],
              var mounts = config["mounts"] as? [[String: Any]] else {
            throw ArcaError(.invalidFormat, "\(configPath) is not a runc config with mounts")
        }
        for name in names {
            let host = given[name] ?? "\(home)/volumes/\(session)/\(name)"
            if !FileSystem.exists(host) { try FileSystem.makeDirectories(host, permissions: 0o700) }
            let target = VolumeHostLayout.containerPath(name)
            try FileSystem.makeDirectories(rootfs + target)
            mounts.append(["destination": target, "type": "bind", "source": host, "options": ["rbind", "rw"]])
        }
        config["mounts"] = mounts
        try FileSystem.writeAtomically(Array(try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys, .prettyPrinted])),
                                       to: configPath)
    }
}
