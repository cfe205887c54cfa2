// swift-tools-version:6.2
import PackageDescription

// Layers import only downward: core -> archive/oci/crypto -> shield -> services -> commands.
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "arca",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "arca", targets: ["arca"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.10.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.3.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.100.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.30.0"),
    ],
    targets: [
        // bottom
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .target(
            name: "ArcaCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            exclude: ["README.md"],
            swiftSettings: strict),
        // domain
        .target(name: "ArcaArchive", dependencies: ["ArcaCore", "CZlib", "CZstd"], exclude: ["README.md"], swiftSettings: strict),
        .target(name: "ArcaOCI", dependencies: ["ArcaCore", "ArcaArchive"], exclude: ["README.md"], swiftSettings: strict),
        .target(
            name: "ArcaCrypto",
            dependencies: ["ArcaCore", .product(name: "Crypto", package: "swift-crypto")],
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
        // top
        .target(
            name: "ArcaCommands",
            dependencies: [
                "ArcaCore", "ArcaArchive", "ArcaOCI", "ArcaShield", "ArcaAttestation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["README.md"],
            swiftSettings: strict),
        .executableTarget(name: "arca", dependencies: ["ArcaCommands"], exclude: ["README.md"], swiftSettings: strict),
        // tests
        .target(name: "ArcaTestSupport", dependencies: ["ArcaCore", "ArcaArchive", "ArcaOCI"], path: "Tests/ArcaTestSupport", swiftSettings: strict),
        .testTarget(name: "ArcaCoreTests", dependencies: ["ArcaCore", "ArcaTestSupport"], swiftSettings: strict),
        .testTarget(name: "ArcaArchiveTests", dependencies: ["ArcaArchive", "ArcaTestSupport"], swiftSettings: strict),
        .testTarget(name: "ArcaCryptoTests", dependencies: ["ArcaCrypto", "ArcaTestSupport", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        .testTarget(name: "ArcaShieldTests", dependencies: ["ArcaShield", "ArcaCrypto", "ArcaTestSupport", .product(name: "Crypto", package: "swift-crypto")],
                    resources: [.copy("Vectors")], swiftSettings: strict),
        .testTarget(name: "ArcaAttestationTests", dependencies: ["ArcaAttestation", "ArcaCommands", "ArcaTestSupport"], swiftSettings: strict),
        .testTarget(name: "ArcaOCITests", dependencies: ["ArcaOCI", "ArcaArchive", "ArcaTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "ArcaCommandsTests",
            dependencies: ["ArcaCommands", "ArcaOCI", "ArcaArchive", "ArcaTestSupport"],
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
