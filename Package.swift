// swift-tools-version:6.1
import PackageDescription

/// Layers, lowest first. Each target depends only on targets above it in this list:
/// C system libraries → ModVaultCore → Chunking / Codecs / Crypto → Store → Archive → CLI.
let package = Package(
    name: "ModVault",
    platforms: [.macOS(.v15)],
    products: [
        .library(
            name: "ModVault",
            targets: [
                "ModVaultCore", "ModVaultChunking", "ModVaultCodecs", "ModVaultCrypto",
                "ModVaultStore", "ModVaultArchive",
            ]
        ),
        .library(name: "ModVaultFixtures", targets: ["ModVaultFixtures"]),
        .library(name: "ModVaultFormats", targets: ["ModVaultFormats"]),
        .executable(name: "modvault", targets: ["modvault"]),
        .executable(name: "modvault-fixtures", targets: ["modvault-fixtures"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // The web UI's server; its optional traits (swift-configuration, full Foundation) are not needed.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.14.0"),
    ],
    targets: [
        // MARK: C system libraries (Debian -dev packages, found through pkg-config)
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CMalloc"),

        // MARK: Core value types and protocols
        .target(name: "ModVaultCore"),

        // MARK: Leaf services
        .target(name: "ModVaultChunking", dependencies: ["ModVaultCore"]),
        .target(name: "ModVaultCodecs", dependencies: ["ModVaultCore", "CZlib", "CLZ4", "CZstd"]),
        .target(name: "ModVaultCrypto", dependencies: ["ModVaultCore", "CLibCrypto"]),

        // MARK: Repository storage: packs, index, trees, snapshots, keys
        .target(
            name: "ModVaultStore",
            dependencies: [
                "ModVaultCore", "ModVaultChunking", "ModVaultCodecs", "ModVaultCrypto", "CSQLite",
            ]
        ),

        // MARK: Operations over a repository: snapshot, restore, check, diff
        .target(
            name: "ModVaultArchive",
            dependencies: [
                "ModVaultCore", "ModVaultChunking", "ModVaultCodecs", "ModVaultCrypto", "ModVaultStore", "ModVaultFormats",
            ]
        ),

        // MARK: Push, pull, clone and mirror between a repository and a remote
        .target(
            name: "ModVaultSync",
            dependencies: ["ModVaultCore", "ModVaultStore", "ModVaultCrypto", "ModVaultChunking", "ModVaultFormats", "ModVaultArchive", "ModVaultRemoteSupport",
                           "ModVaultRemotePocketBase"]
        ),

        // MARK: Web UI and JSON API (modvault serve)
        .target(
            name: "ModVaultServer",
            dependencies: [
                "ModVaultCore", "ModVaultStore", "ModVaultArchive", "ModVaultFormats", "ModVaultSync", "ModVaultRemoteSupport",
                "ModVaultRemotePocketBase", "ModVaultRemoteDisk",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: Command line
        .target(
            name: "ModVaultCLI",
            dependencies: [
                "ModVaultCore", "ModVaultStore", "ModVaultArchive", "ModVaultChunking", "ModVaultCodecs",
                "ModVaultCrypto", "ModVaultSync", "ModVaultRemoteSupport", "ModVaultRemoteDisk", "ModVaultRemoteS3",
                "ModVaultRemotePocketBase", "ModVaultRemoteHTTP", "ModVaultFormats", "ModVaultServer", "CMalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "modvault", dependencies: ["ModVaultCLI"]),

        // MARK: Deterministic test corpus
        .target(name: "ModVaultFixtures", dependencies: ["ModVaultCore", "CZlib"]),
        .executableTarget(name: "modvault-fixtures", dependencies: ["ModVaultFixtures"]),

        // MARK: Format layer: BA2/DDS/plugin parsers, segmentation, compression recipes, format diffs
        .target(name: "ModVaultFormats", dependencies: ["ModVaultCore", "ModVaultCrypto", "ModVaultChunking", "CZlib"]),

        // MARK: Remotes: shared support, then one module per back end
        .target(
            name: "ModVaultRemoteSupport",
            dependencies: ["ModVaultCore", "ModVaultCrypto", "CLibCrypto", .product(name: "AsyncHTTPClient", package: "async-http-client")]
        ),
        .target(name: "ModVaultRemoteDisk", dependencies: ["ModVaultCore", "ModVaultRemoteSupport"]),
        .target(name: "ModVaultRemoteS3", dependencies: ["ModVaultCore", "ModVaultRemoteSupport"]),
        .target(name: "ModVaultRemotePocketBase", dependencies: ["ModVaultCore", "ModVaultRemoteSupport"]),
        .target(name: "ModVaultRemoteHTTP", dependencies: ["ModVaultCore", "ModVaultRemoteSupport"]),

        // MARK: Tests, one target per module
        .testTarget(name: "ModVaultCoreTests", dependencies: ["ModVaultCore"]),
        .testTarget(
            name: "ModVaultRemoteTests",
            dependencies: [
                "ModVaultCore", "ModVaultRemoteSupport", "ModVaultRemoteDisk", "ModVaultRemoteS3",
                "ModVaultRemotePocketBase", "ModVaultRemoteHTTP", "ModVaultSync", "ModVaultStore", "ModVaultArchive",
                "ModVaultCrypto", "ModVaultChunking",
                // The team commands' test runs the built binary against the suite's servers.
                "modvault", "ModVaultTestSupport",
            ]
        ),
        .testTarget(
            name: "ModVaultServerTests",
            dependencies: ["ModVaultServer", "ModVaultCore", "ModVaultStore", "ModVaultArchive", "ModVaultRemoteSupport", "ModVaultCrypto",
                           "ModVaultChunking", "ModVaultSync", "ModVaultRemoteHTTP", "ModVaultRemoteDisk", "ModVaultFixtures", "ModVaultFormats"]
        ),
        // Shared by the test targets that run the built programs.
        .target(name: "ModVaultTestSupport", path: "Tests/ModVaultTestSupport"),
        .testTarget(name: "ModVaultChunkingTests", dependencies: ["ModVaultChunking", "ModVaultCore"]),
        .testTarget(name: "ModVaultCodecsTests", dependencies: ["ModVaultCodecs", "ModVaultCore"]),
        .testTarget(name: "ModVaultCryptoTests", dependencies: ["ModVaultCrypto"]),
        .testTarget(name: "ModVaultStoreTests", dependencies: ["ModVaultStore"]),
        .testTarget(
            name: "ModVaultArchiveTests",
            dependencies: ["ModVaultArchive", "ModVaultStore", "ModVaultChunking", "ModVaultCrypto", "ModVaultFixtures", "ModVaultFormats"]
        ),
        .testTarget(name: "ModVaultFixturesTests", dependencies: ["ModVaultFixtures"]),
        .testTarget(name: "ModVaultFormatsTests", dependencies: ["ModVaultFormats", "ModVaultCore"]),
        .testTarget(
            name: "ModVaultSyncTests",
            dependencies: [
                "ModVaultSync", "ModVaultRemoteDisk", "ModVaultRemoteSupport", "ModVaultArchive", "ModVaultStore", "ModVaultCrypto",
                "ModVaultChunking", "ModVaultFixtures", "ModVaultFormats",
            ]
        ),
        .testTarget(
            name: "ModVaultCLITests",
            dependencies: ["modvault", "ModVaultTestSupport", "ModVaultFixtures", "ModVaultCore", "ModVaultStore", "ModVaultCrypto", "ModVaultArchive", "ModVaultFormats"]
        ),
    ]
)
