// swift-tools-version: 6.1
import PackageDescription
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// Release builds target this CPU: without it, SIMD code falls back to baseline x86-64
// (a call to fmaf per lane) and kernels run ~80x slower. See ../shared/design/swift-performance.md.
// They keep Swift's bounds and overflow checks (-O, not -Ounchecked): an index bug traps with a
// message instead of reading someone else's memory. The kernels' inner loops run over unsafe
// pointers, which carry no checks either way, so training and decoding lose nothing measurable
// (scripts/bench-checked.sh compares; SWIFTLET_UNCHECKED=1 builds the -Ounchecked variant for it).
let optimization = ProcessInfo.processInfo.environment["SWIFTLET_UNCHECKED"] == "1" ? "-Ounchecked" : "-O"
let fastSwift: [SwiftSetting] = [
    .unsafeFlags(
        [optimization, "-enforce-exclusivity=unchecked", "-target-cpu", "native"],
        .when(configuration: .release))
]

let package = Package(
    name: "Swiftlet",
    products: [
        .executable(name: "swiftlet", targets: ["swiftlet"]),
        .library(name: "Swiftlet", targets: ["Swiftlet"]),
        .library(name: "SwiftletServer", targets: ["SwiftletServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The HTTP server: Hummingbird 2 on SwiftNIO, without its optional swift-configuration
        // and full-Foundation traits (less to build).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // A thin extern "C" shim over libsentencepiece (Debian: libsentencepiece-dev).
        .target(
            name: "CSentencePiece",
            cxxSettings: [.unsafeFlags(["-O2", "-std=c++17"])],
            linkerSettings: [.linkedLibrary("sentencepiece"), .linkedLibrary("sentencepiece_train")]
        ),
        // Line editing and history for the chat REPL through libedit (BSD; Debian: libedit-dev).
        .target(
            name: "CLineEditor",
            linkerSettings: [.linkedLibrary("edit")]
        ),
        // The CPU's spin-wait hint, for the worker team's waiting loops.
        .target(name: "CSpinWait"),
        // bf16 kernels with AVX512-BF16 intrinsics (attention, rounding, the bf16 peak). Each
        // function carries its own target attribute and callers check the CPU at run time, so
        // this builds on any x86-64: never add -march=native here.
        .target(name: "CBF16Kernels", cSettings: [.unsafeFlags(["-O3"], .when(configuration: .release))]),
        // Open MPI and OpenMP, both reached at run time (dlopen/dlsym) so that Swiftlet builds
        // and runs where Open MPI is not installed; see Sources/CParallel/include/CParallel.h.
        .target(name: "CParallel"),
        // Quantized row products with integer dot products (AVX512-VNNI, AVX-VNNI, AVX2, C),
        // each variant compiled by a target attribute and chosen by CPUID: builds on any x86-64.
        .target(name: "CQuantKernels", cSettings: [.unsafeFlags(["-O3"], .when(configuration: .release))]),
        // oneDNN (Debian: libdnnl-dev) for matrix products.
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        .target(
            name: "Swiftlet",
            dependencies: ["CSentencePiece", "CDNNL", "CSpinWait", "CBF16Kernels", "CParallel", "CQuantKernels"],
            swiftSettings: fastSwift,
            plugins: ["BuildInfo"]
        ),
        // Writes the git commit of the build into the library (scripts/build-info.sh).
        .plugin(name: "BuildInfo", capability: .buildTool()),
        // `swiftlet serve`: the OpenAI-compatible HTTP server around the generation engine. Plain
        // -O (checked): it parses what strangers send.
        .target(
            name: "SwiftletServer",
            dependencies: [
                "Swiftlet",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "swiftlet",
            dependencies: [
                "Swiftlet", "SwiftletServer", "CLineEditor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // Swift 5 mode here only: the terminal code uses C's stdout/stderr globals.
            swiftSettings: fastSwift + [.swiftLanguageMode(.v5)]
        ),
        // Pseudo-terminals for the chat REPL's tests.
        .target(name: "CTestSupport", path: "Tests/CTestSupport"),
        .testTarget(
            name: "SwiftletTests",
            dependencies: ["Swiftlet", "CTestSupport"],
            swiftSettings: fastSwift
        ),
        // The server on an ephemeral port, driven by a small HTTP client on SwiftNIO's codec.
        .testTarget(
            name: "SwiftletServerTests",
            dependencies: [
                "SwiftletServer", "Swiftlet",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
    ]
)
