// swift-tools-version:6.2
import PackageDescription

// Layers import only downward: core -> archive/oci/crypto -> shield -> services -> commands.
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "arca",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "arca", targets: ["arca"]),
        .executable(name: "arca-init", targets: ["arca-init"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.10.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.3.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.0"),
        // keeper (server stack: never linked by arca-init)
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        // bottom
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CIsal", pkgConfig: "libisal", providers: [.apt(["libisal-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CFuse", pkgConfig: "fuse3", providers: [.apt(["libfuse3-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .target(
            name: "ArcaCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            exclude: ["README.md"],
            swiftSettings: strict),
        // domain
        .target(name: "ArcaArchive", dependencies: ["ArcaCore", "CZlib", "CIsal", "CZstd"], exclude: ["README.md"], swiftSettings: strict),
        .target(name: "ArcaOCI", dependencies: ["ArcaCore", "ArcaArchive"], exclude: ["README.md"], swiftSettings: strict),
        .target(name: "ArcaRuntimeLayer", dependencies: ["ArcaCore", "ArcaArchive"], exclude: ["README.md"], swiftSettings: strict),
        // AES-GCM on caller-owned memory, from the BoringSSL inside swift-crypto's Crypto product
        .target(name: "CBoringGCM", dependencies: [.product(name: "Crypto", package: "swift-crypto")], exclude: ["README.md"]),
        .target(
            name: "ArcaCrypto",
            dependencies: ["ArcaCore", "CBoringGCM", .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["README.md"],
            swiftSettings: strict),
        .target(
            name: "ArcaAttestation",
            dependencies: [
                "ArcaCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            exclude: ["README.md", "Sim/README.md"],
            swiftSettings: strict),
        // sessions (YAML policies), shared by the sealer and the keeper
        .target(
            name: "ArcaSession",
            dependencies: ["ArcaCore", .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "Yams", package: "Yams")],
            exclude: ["README.md"],
            swiftSettings: strict),
        // the keeper's wire types (linked by arca-init: no NIO, no server stack)
        .target(
            name: "ArcaKeeperAPI",
            dependencies: ["ArcaCore", .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "X509", package: "swift-certificates"),
                           .product(name: "SwiftASN1", package: "swift-asn1")],
            exclude: ["README.md"],
            swiftSettings: strict),
        // services: the registry client (docker://); linked by the CLI only, never by the runtime
        .target(
            name: "ArcaRegistry",
            dependencies: [
                "ArcaCore", "ArcaArchive", "ArcaOCI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            exclude: ["README.md"],
            swiftSettings: strict),
        // format
        .target(name: "ArcaShield", dependencies: ["ArcaCore", "ArcaCrypto"], exclude: ["README.md"], swiftSettings: strict),
        .target(
            name: "ArcaMeasurement",
            dependencies: ["ArcaCore", .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["README.md"],
            swiftSettings: strict),
        .target(name: "ArcaVolume", dependencies: ["ArcaCore", "ArcaCrypto", .product(name: "Crypto", package: "swift-crypto")],
                exclude: ["README.md"], swiftSettings: strict),
        // services
        .target(
            name: "ArcaSeal",
            dependencies: ["ArcaCore", "ArcaArchive", "ArcaOCI", "ArcaCrypto", "ArcaShield", "ArcaSession", "ArcaMeasurement",
                           .product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["README.md"],
            swiftSettings: strict),
        .target(
            name: "ArcaKeeper",
            dependencies: [
                "ArcaCore", "ArcaSession", "ArcaKeeperAPI", "ArcaAttestation",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["README.md", "Collateral/README.md"],
            swiftSettings: strict),
        .target(
            name: "ArcaKeeperClient",
            dependencies: [
                "ArcaCore", "ArcaKeeperAPI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            exclude: ["README.md"],
            swiftSettings: strict),
        // arca-init's link to the keeper: HTTPS on OpenSSL, pinned (no NIO), and the attestation flow
        .target(
            name: "ArcaKeeperLink",
            dependencies: ["ArcaCore", "ArcaKeeperAPI", "ArcaAttestation", "COpenSSL",
                           .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["README.md"],
            swiftSettings: strict),
        // the protected root: a FUSE adapter (no crypto) and the read-only shield file system
        .target(name: "ArcaFUSE", dependencies: ["CFuse", "ArcaCore"], exclude: ["README.md"], swiftSettings: strict),
        .target(name: "ArcaRootFS", dependencies: ["ArcaFUSE", "ArcaShield", "ArcaCrypto", "ArcaCore"],
                exclude: ["README.md"], swiftSettings: strict),
        // encrypted read-write volumes over FUSE
        .target(name: "ArcaVolumeFS", dependencies: ["ArcaVolume", "ArcaFUSE", "ArcaCore"], exclude: ["README.md"], swiftSettings: strict),
        // top
        .target(
            name: "ArcaCommands",
            dependencies: [
                "ArcaCore", "ArcaArchive", "ArcaOCI", "ArcaShield", "ArcaAttestation", "ArcaSeal", "ArcaSession", "ArcaRuntimeLayer", "ArcaCrypto", "ArcaMeasurement", "ArcaRegistry",
                "ArcaKeeperAPI", "ArcaKeeper", "ArcaKeeperClient", "ArcaVolume",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["README.md"],
            swiftSettings: strict),
        .executableTarget(name: "arca", dependencies: ["ArcaCommands"], exclude: ["README.md"], swiftSettings: strict),
        // the keeper benchmark's client (bench/keeper.sh): attest-and-release round trips from a separate process
        .executableTarget(name: "arca-keeper-bench",
                          dependencies: ["ArcaKeeperLink", "ArcaAttestation", "ArcaKeeperAPI", "ArcaCore",
                                         .product(name: "Crypto", package: "swift-crypto")],
                          swiftSettings: strict),
        // the runtime: PID 1 of every sealed image (see docs/RUNTIME.md)
        .target(name: "CArcaShim", exclude: ["README.md"]),
        .target(name: "ArcaOS", dependencies: ["ArcaCore", "CArcaShim", .product(name: "SystemPackage", package: "swift-system")], exclude: ["README.md"], swiftSettings: strict),
        .target(name: "ArcaInit", dependencies: ["ArcaCore", "ArcaOS", "ArcaMeasurement", "ArcaShield", "ArcaCrypto", "ArcaRootFS", "ArcaFUSE", "ArcaKeeperAPI", "ArcaKeeperLink", "ArcaAttestation", "ArcaVolume", "ArcaVolumeFS"], exclude: ["README.md"], swiftSettings: strict),
        .executableTarget(name: "arca-test-supervisor", dependencies: ["ArcaOS"], swiftSettings: strict),
        .executableTarget(
            name: "arca-init",
            dependencies: ["ArcaInit"],
            exclude: ["README.md"],
            swiftSettings: strict,
            // Swift runtime linked in; libraries searched in /.arca/lib first (DT_RPATH, which also
            // covers the libraries' own dependencies, unlike DT_RUNPATH). Absent on a build host,
            // so the host's libraries are used there. The loader path is patched in the layer copy.
            // FoundationEssentials (used by swift-crypto) does not name its two helper archives.
            linkerSettings: [.unsafeFlags(["-static-stdlib", "-Xlinker", "--disable-new-dtags",
                                           "-Xlinker", "-rpath", "-Xlinker", "/.arca/lib"]),
                             .linkedLibrary("_FoundationCollections"), .linkedLibrary("_FoundationCShims")]),
        // tests
        .target(name: "ArcaTestSupport", dependencies: ["ArcaCore", "ArcaArchive", "ArcaOCI"], path: "Tests/ArcaTestSupport", swiftSettings: strict),
        .testTarget(name: "ArcaCoreTests", dependencies: ["ArcaCore", "ArcaTestSupport"], swiftSettings: strict),
        .testTarget(name: "ArcaArchiveTests", dependencies: ["ArcaArchive", "ArcaTestSupport"], swiftSettings: strict),
        .testTarget(name: "ArcaCryptoTests", dependencies: ["ArcaCrypto", "ArcaTestSupport", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        .testTarget(name: "ArcaShieldTests", dependencies: ["ArcaShield", "ArcaCrypto", "ArcaTestSupport", .product(name: "Crypto", package: "swift-crypto")],
                    resources: [.copy("Vectors")], swiftSettings: strict),
        .testTarget(name: "ArcaAttestationTests", dependencies: ["ArcaAttestation", "ArcaCommands", "ArcaTestSupport"], swiftSettings: strict),
        .testTarget(name: "ArcaSealTests", dependencies: ["ArcaSeal", "ArcaMeasurement", "ArcaShield", "ArcaCrypto", "ArcaOCI", "ArcaTestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "ArcaOSTests", dependencies: ["ArcaOS", "ArcaTestSupport"], swiftSettings: strict),
        .testTarget(name: "ArcaRuntimeLayerTests", dependencies: ["ArcaRuntimeLayer", "ArcaInit", "ArcaArchive", "ArcaTestSupport"], swiftSettings: strict),
        .testTarget(name: "ArcaRootFSTests", dependencies: ["ArcaRootFS", "ArcaFUSE", "ArcaSeal", "ArcaShield", "ArcaCrypto", "ArcaOCI",
                                                          "ArcaArchive", "ArcaTestSupport"], swiftSettings: strict),
        // a child process serving one volume over FUSE, so crash tests can SIGKILL it
        .executableTarget(name: "arca-volume-test-server", dependencies: ["ArcaVolumeFS", "ArcaVolume", "ArcaFUSE", "ArcaCrypto", "ArcaCore"],
                          path: "Tests/arca-volume-test-server", swiftSettings: strict),
        .testTarget(name: "ArcaVolumeTests", dependencies: ["ArcaVolume", "ArcaVolumeFS", "ArcaFUSE", "ArcaCrypto", "ArcaTestSupport",
                                                          "arca-volume-test-server"], swiftSettings: strict),
        .testTarget(name: "ArcaOCITests", dependencies: ["ArcaOCI", "ArcaArchive", "ArcaTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "ArcaKeeperTests",
            dependencies: ["ArcaKeeper", "ArcaKeeperClient", "ArcaKeeperAPI", "ArcaSession", "ArcaAttestation",
                           "ArcaCommands", "ArcaTestSupport",
                           .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "PostgresNIO", package: "postgres-nio"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            swiftSettings: strict),
        .testTarget(
            name: "ArcaKeeperLinkTests",
            dependencies: ["ArcaKeeperLink", "ArcaKeeper", "ArcaKeeperClient", "ArcaKeeperAPI", "ArcaAttestation", "COpenSSL",
                           "ArcaTestSupport",
                           .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            swiftSettings: strict),
        .testTarget(
            name: "ArcaCommandsTests",
            dependencies: ["ArcaCommands", "ArcaOCI", "ArcaArchive", "ArcaVolume", "ArcaCrypto", "ArcaTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "ArcaRegistryTests",
            dependencies: [
                "ArcaRegistry", "ArcaOCI", "ArcaArchive", "ArcaTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict),
    ]
)
