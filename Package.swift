// swift-tools-version: 6.2
import PackageDescription

// Our own targets only: dependencies keep their warnings to themselves.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "Sendpath",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sendpath", targets: ["sendpath"]),
        .executable(name: "sendpath-fuzz", targets: ["SendpathFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
    ],
    targets: [
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        // System libcurl: its SMTP client (STARTTLS, AUTH) sends notices; `make deps` installs the headers.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .target(
            name: "SendpathCore",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .target(
            name: "SendpathYAML",
            dependencies: ["CYAML", "SendpathCore"],
            // The decoder's classes are touched once per YAML event; dynamic exclusivity
            // checks there cost more than libyaml itself (see docs/benchmarks.md).
            swiftSettings: strict + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        .target(
            name: "SendpathTestSupport",
            dependencies: ["SendpathCore"],
            swiftSettings: strict
        ),
        .target(
            name: "SendpathSQLiteOpening",
            dependencies: [.product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .target(
            name: "SendpathSQLite",
            dependencies: [
                "SendpathCore", "SendpathSQLiteOpening",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "SendpathSimulator",
            dependencies: [
                "SendpathCore", "SendpathYAML", "SendpathSQLiteOpening",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "SendpathController",
            dependencies: ["SendpathCore", .product(name: "Logging", package: "swift-log"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            swiftSettings: strict
        ),
        .target(
            name: "SendpathHTTP",
            dependencies: [
                "SendpathCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Notices delivered to tenants: SMTP (libcurl), sendmail, webhooks (AsyncHTTPClient).
        .target(
            name: "SendpathNotices",
            dependencies: [
                "SendpathCore", "CCurl",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // The postfix-bgp: provider: Postfix MTAs and GoBGP speakers driven through their own tools.
        .target(
            name: "SendpathPostfixBGP",
            dependencies: [
                "SendpathCore", "SendpathYAML", "SendpathSQLiteOpening",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "SendpathPostgres",
            dependencies: [
                "SendpathCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "sendpath",
            dependencies: [
                "SendpathCore", "SendpathYAML", "SendpathSQLite", "SendpathSimulator", "SendpathController", "SendpathHTTP", "SendpathPostgres",
                "SendpathPostfixBGP", "SendpathNotices",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The fuzz target over the loader and validator: `make fuzz` builds it with libFuzzer
        // (-sanitize=fuzzer -D SENDPATH_FUZZ); otherwise it replays files through the same check.
        .executableTarget(name: "SendpathFuzz", dependencies: ["SendpathYAML", "SendpathCore"], swiftSettings: strict),
        .testTarget(name: "SendpathCoreTests", dependencies: ["SendpathCore", "SendpathTestSupport"], swiftSettings: strict),
        .testTarget(name: "SendpathSQLiteTests", dependencies: ["SendpathSQLite", "SendpathCore", "SendpathTestSupport"], swiftSettings: strict),
        .testTarget(name: "SendpathYAMLTests", dependencies: ["SendpathYAML", "SendpathCore"], swiftSettings: strict),
        .testTarget(name: "SendpathSimulatorTests", dependencies: ["SendpathSimulator", "SendpathCore", "SendpathYAML", "SendpathTestSupport"], swiftSettings: strict),
        .testTarget(name: "SendpathControllerTests", dependencies: [
            "SendpathController", "SendpathSimulator", "SendpathYAML", "SendpathCore", "SendpathHTTP",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "PropertyBased", package: "swift-property-based"),
        ], swiftSettings: strict),
        .testTarget(name: "SendpathHTTPTests", dependencies: ["SendpathHTTP", "SendpathSimulator", "SendpathYAML", "SendpathCore", "SendpathTestSupport"], swiftSettings: strict),
        .testTarget(name: "SendpathPostfixBGPTests", dependencies: ["SendpathPostfixBGP", "SendpathCore"], swiftSettings: strict),
        .testTarget(name: "SendpathNoticesTests", dependencies: ["SendpathNotices", "SendpathCore", "SendpathYAML"], swiftSettings: strict),
        .testTarget(name: "SendpathPostgresTests", dependencies: ["SendpathPostgres", "SendpathCore", "SendpathTestSupport"], swiftSettings: strict),
        .testTarget(name: "SendpathCLITests", dependencies: ["SendpathCore"], exclude: ["Support/check_schema.py", "Support/check_openapi.py", "Support/notice_sinks.py"], swiftSettings: strict),
    ]
)
