// swift-tools-version:6.1
import PackageDescription

/// Micro-benchmarks for ModVault's building blocks. A separate package so the main build and
/// test suite never compile or run it; it has its own `.build` folder under Benchmarks/.
///
///     swift build -c release --package-path Benchmarks
///     Benchmarks/.build/release/modvault-bench chunker --mib 512
let package = Package(
    name: "ModVaultBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "ModVault", path: "..")
    ],
    targets: [
        .executableTarget(
            name: "modvault-bench",
            dependencies: [
                .product(name: "ModVault", package: "ModVault"),
                .product(name: "ModVaultFormats", package: "ModVault"),
                .product(name: "ModVaultFixtures", package: "ModVault"),
            ]
        )
    ]
)
