// swift-tools-version:6.1
// Fuzz targets for the format layer and the repository's own structures, built outside the main package's normal build because every
// module is compiled with -sanitize=fuzzer,address. Run them with scripts/fuzz.sh.
import PackageDescription
import Foundation

// A path dependency's identity is its folder name, which depends on where the repository was cloned.
let parent = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "ModVaultFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: "..")],
    targets: [
        .target(name: "CFuzzDriver"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzDriver", .product(name: "ModVaultFormats", package: parent)]),
        .executableTarget(name: "fuzz-ba2", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "fuzz-dds", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "fuzz-plugin", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "fuzz-recipe", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "fuzz-merge", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "fuzz-metadata", dependencies: ["FuzzSupport", .product(name: "ModVault", package: parent)]),
    ]
)
