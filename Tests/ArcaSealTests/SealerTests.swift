import ArcaMeasurement
import ArcaArchive
import ArcaCore
import ArcaCrypto
import ArcaOCI
import ArcaSeal
import ArcaShield
import ArcaTestSupport
import Testing

/// The sealing pipeline on generated images: what is kept, what is hidden, what is measured.
@Suite struct SealerTests {
    static let marker = "ARCA-MARKER-7f3c9e21-do-not-leak"
    static let secretName = "very-secret-model-weights.bin"
    static let secretSize = 123_457

    /// A three-layer image: a base (kept), an app layer with encrypted files, and a config layer.
    static func nativeImage(in dir: String, appText: String = "print('hello')\n") throws -> (OCILayout, ResolvedImage) {
        let layout = try LayoutBuilder(path: dir + "/native")
        var secret = [UInt8](repeating: 0x41, count: secretSize)
        secret.replaceSubrange(1000..<(1000 + marker.utf8.count), with: Array(marker.utf8))
        let base = try TarBuilder.tar([.directory("bin"), .file("bin/tool", Array(repeating: 7, count: 70_000), mode: 0o755),
                                       .directory("etc"), .file("etc/os-release", Array("ID=test\n".utf8))])
        let app = try TarBuilder.tar([.directory("app"), .file("app/server.py", Array(appText.utf8)),
                                      .file("app/\(secretName)", secret), .directory("app/static"),
                                      .file("app/static/\(marker).txt", Array("named by the marker\n".utf8))])
        let top = try TarBuilder.tar([.directory("etc"), .file("etc/app.conf", Array("port=8080\n".utf8))])
        var config = ContainerConfig()
        config.entrypoint = ["/usr/bin/python3"]
        config.cmd = ["/app/server.py"]
        config.env = ["PATH=/usr/bin:/bin", "MODE=prod"]
        config.workingDir = "/app"
        let manifest = try layout.image(layers: [base, app, top].map { (try TarBuilder.gzip($0), Digest.sha256(of: $0), MediaType.ociLayerGzip) },
                                        config: config)
        try layout.index([(manifest, "native")])
        let source = try OCILayout(readingFrom: dir + "/native", tag: "native")
        return (source, try ImageResolver().resolve(source))
    }

    static func runtimeTar(in dir: String) throws -> String {
        let path = dir + "/runtime.tar"
        try FileSystem.writeAtomically(TarBuilder.tar([.directory(".arca"), .directory(".arca/bin"),
                                                       .file(".arca/bin/arca-init", Array("runtime stand-in for the test\n".utf8), mode: 0o755)]),
                                       to: path)
        return path
    }

    static func options(_ dir: String, encrypt: [String] = ["/app"], key: MasterKey? = nil, epoch: Int64 = 1_700_000_000) throws -> SealOptions {
        try SealOptions(policy: ProtectionPolicy(ProtectionPolicy.rules(encrypt: encrypt, authenticate: [], ephemeral: ["/tmp"], volumes: [], host: [])),
                        masterKey: key ?? MasterKey(bytes: Array(repeating: 0x42, count: 32)), runtimeLayerTar: runtimeTar(in: dir),
                        session: "team/app", allowedEvidence: ["sim"], sourceDateEpoch: epoch, arcaVersion: "test")
    }

    static func seal(_ dir: String, _ options: SealOptions, tag: String = "sealed") throws -> (SealResult, ResolvedImage, OCILayout) {
        let (source, image) = try nativeImage(in: dir)
        let result = try Sealer(options: options).seal(image, from: source, to: OCILayout(writingTo: dir + "/out", tag: tag))
        let sealedSource = try OCILayout(readingFrom: dir + "/out", tag: tag)
        return (result, try ImageResolver().resolve(sealedSource), sealedSource)
    }

    @Test func keepsUntouchedLayersAndMeasuresTheResult() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let (_, native) = try Self.nativeImage(in: dir + "/n")
            let (result, sealed, source) = try Self.seal(dir, Self.options(dir))
            #expect(result.keptLayers == 2)
            #expect(result.rewrittenLayers == 1)
            #expect(sealed.layers.count == 6)  // + runtime, one blob layer (the app layer's stream), shield
            #expect(sealed.layers[0].digest == native.layers[0].digest)  // the base layer, byte for byte
            #expect(sealed.layers[2].digest == native.layers[2].digest)
            #expect(sealed.layers[1].digest != native.layers[1].digest)
            #expect(sealed.config.config?.entrypoint == ["/.arca/bin/arca-init"])
            #expect(sealed.manifest.annotations?["dev.arca.measurement"] == result.measurement)
            #expect(sealed.manifest.annotations?["org.opencontainers.image.base.digest"] == native.manifestDescriptor.digest.description)
            #expect(result.measuredConfig.service.cmd == ["/app/server.py"])
            #expect(result.session.services.first?.measurements == [result.measurement])
            #expect(result.encryptedFiles == 3)

            let reader = SealedImageReader()
            #expect(try reader.read(sealed, from: source).measurement == result.measurement)
            let (_, withoutKey) = try reader.verify(sealed, from: source, masterKey: nil)
            #expect(withoutKey.authenticatedChunks >= 3)
            let (_, withKey) = try reader.verify(sealed, from: source, masterKey: MasterKey(bytes: Array(repeating: 0x42, count: 32)))
            #expect(withKey.encryptedChunks >= 2)
        }
    }

    @Test func encryptedMarkerNameAndSizeAppearInNoBlob() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            _ = try Self.seal(dir, Self.options(dir))
            let needles: [(String, [UInt8])] = [
                ("marker", Array(Self.marker.utf8)), ("file name", Array(Self.secretName.utf8)),
                ("decimal size", Array(String(Self.secretSize).utf8)),
                ("octal size (tar)", Array(String(Self.secretSize, radix: 8).utf8)),
                ("little-endian size", withUnsafeBytes(of: UInt64(Self.secretSize).littleEndian, Array.init)),
                ("big-endian size", withUnsafeBytes(of: UInt64(Self.secretSize).bigEndian, Array.init)),
            ]
            for name in try FileSystem.listDirectory(dir + "/out/blobs/sha256") {
                let stored = try FileSystem.readFile(dir + "/out/blobs/sha256/\(name)", limit: 64 << 20)
                var forms = [stored]
                let kind = LayerCompression.detect(Array(stored.prefix(8)))
                if kind != .none { forms.append(try kind.decompressing(MemorySource(stored)).readAll(limit: 64 << 20, what: name)) }
                for form in forms {
                    for (what, needle) in needles {
                        #expect(!contains(form, needle), "blob \(name) contains the \(what)")
                    }
                }
            }
        }
    }

    @Test func sameInputKeyAndEpochGiveTheSameImage() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let first = try Self.seal(dir + "/a", Self.options(dir))
            let second = try Self.seal(dir + "/b", Self.options(dir))
            #expect(first.0.manifest.digest == second.0.manifest.digest)
            #expect(first.0.measurement == second.0.measurement)
            let otherKey = try Self.seal(dir + "/c", Self.options(dir, key: MasterKey(bytes: Array(repeating: 0x43, count: 32))))
            #expect(otherKey.0.manifest.digest != first.0.manifest.digest)
        }
    }

    @Test func measurementFollowsContentPolicyAndCommand() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let base = try Self.seal(dir + "/base", Self.options(dir)).0.measuredConfig
            let measurement = try base.measurement()
            var variants: [MeasuredConfig] = []
            for change in 0..<6 {
                var config = base
                switch change {
                case 0: config.service.cmd = ["/app/other.py"]
                case 1: config.service.env.append("DEBUG=1")
                case 2: config.policy.append(PolicyRule(path: "/data", pathClass: .volume("data")))
                case 3: config.shieldRoots = [String(repeating: "0", count: 64)]
                case 4: config.runtime = Digest.sha256(of: [1]).description
                default: config.keeper.pin = String(repeating: "a", count: 64)
                }
                variants.append(config)
            }
            let measurements = try Set(variants.map { try $0.measurement() })
            #expect(measurements.count == variants.count)
            #expect(!measurements.contains(measurement))

            // A different byte in an encrypted file changes the measurement through the index root.
            let (source, image) = try Self.nativeImage(in: dir + "/changed", appText: "print('hellO')\n")
            let changed = try Sealer(options: Self.options(dir)).seal(image, from: source, to: OCILayout(writingTo: dir + "/changed/out", tag: "x"))
            #expect(changed.measurement != measurement)
        }
    }

    @Test func missingEncryptedPathIsAnErrorUnlessAllowed() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let error = #expect(throws: ArcaError.self) { try Self.seal(dir + "/a", Self.options(dir, encrypt: ["/nope"])) }
            #expect(error?.message.contains("--encrypt /nope") == true)
            var options = try Self.options(dir, encrypt: ["/nope"])
            options.allowMissing = true
            #expect(try Self.seal(dir + "/b", options).0.encryptedFiles == 0)
        }
    }

    @Test func tamperedLayerIsCaughtByMeasure() async throws {
        try await Fixture.withTemporaryDirectory { dir in
            let (_, sealed, _) = try Self.seal(dir, Self.options(dir))
            // The host swaps the base layer for another one and fixes up manifest and config digests.
            let layout = try LayoutBuilder(path: dir + "/out")
            let evil = try TarBuilder.tar([.directory("bin"), .file("bin/tool", Array(repeating: 8, count: 70_000), mode: 0o755)])
            var config = sealed.config
            config.rootfs.diffIDs[0] = .sha256(of: evil)
            let configDescriptor = try layout.json(config, mediaType: MediaType.ociConfig)
            var manifest = sealed.manifest
            manifest.config = configDescriptor
            manifest.layers[0] = try layout.blob(evil, mediaType: MediaType.ociLayer)
            let manifestDescriptor = try layout.json(manifest, mediaType: MediaType.ociManifest)
            try layout.index([(manifestDescriptor, "evil")])
            let evilSource = try OCILayout(readingFrom: dir + "/out", tag: "evil")
            let error = #expect(throws: ArcaError.self) { try SealedImageReader().read(ImageResolver().resolve(evilSource), from: evilSource) }
            #expect(error?.code == .integrity)
            #expect(error?.message.contains("layer 1") == true)
        }
    }

    private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        let first = needle[0]
        var index = 0
        while index <= haystack.count - needle.count {
            if haystack[index] == first && haystack[index..<(index + needle.count)].elementsEqual(needle) { return true }
            index += 1
        }
        return false
    }
}
