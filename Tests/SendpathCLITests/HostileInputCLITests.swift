import Foundation
import Testing

/// The built binary against hostile input (issue 10): nothing outside the manifest roots is
/// disclosed, no value traps, no scalar forges a diagnostic, and reading never creates.
@Suite("Hostile input, end to end")
struct HostileInputCLITests {
    /// Swift traps end the process on SIGILL or SIGTRAP (exit 132/133 in a shell).
    static func didNotTrap(_ result: SendpathBinary.Result) -> Bool {
        ![4, 5, 132, 133, 134].contains(result.status)
    }

    static let fleet = """
    apiVersion: sendpath/v1
    kind: AddressPrefix
    metadata: {name: pfx-a}
    spec: {cidr: 198.51.100.0/24}
    ---
    apiVersion: sendpath/v1
    kind: Wave
    metadata: {name: w1}
    spec:
      window: {start: "2024-01-16T20:00:00Z", end: "2024-01-17T00:00:00Z"}
      notice: {sentAt: "2023-12-01T09:00:00Z"}
    ---
    apiVersion: sendpath/v1
    kind: Instance
    metadata: {name: a}
    spec:
      tenant: acme
      product: campaign-classic-v7
      hosting: managed-services
      environment: prod
      build: "7.3.5 build 9368"
      sendingIPs: [198.51.100.10]
      sendingPath: {infrastructure: aws, location: eu-west-1}
      wave: w1

    """

    // MARK: - Disclosure

    @Test func linksOutOfTheManifestFolderDiscloseNothingInAnyFormat() throws {
        let folder = try TemporaryFolder("hostile")
        defer { folder.remove() }
        let token = "TOKEN-\(UUID().uuidString)"
        try folder.write("manifests/fleet.yaml", Self.fleet)
        try folder.write("secret/token.txt", "\(token): \(token)\n")
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: folder.path + "/manifests/x.yaml", withDestinationPath: "/etc/passwd")
        try fm.createSymbolicLink(atPath: folder.path + "/manifests/token.yaml", withDestinationPath: folder.path + "/secret/token.txt")
        try fm.createSymbolicLink(atPath: folder.path + "/manifests/dir", withDestinationPath: folder.path + "/secret")
        for format in ["text", "json", "sarif"] {
            let result = try SendpathBinary.run(["validate", "manifests", "--output", format], directory: folder.path)
            #expect(result.status == 65, "\(format): \(result.stderr)")
            let output = result.stdout + result.stderr
            #expect(!output.contains(token), "\(format) disclosed the token: \(output)")
            #expect(!output.contains("root:x:"), "\(format) disclosed /etc/passwd")
            #expect(output.contains("path-outside-root"), "\(format): \(output)")
        }
    }

    @Test func aLinkToTheFilesystemRootFinishesQuicklyWithADiagnostic() throws {
        let folder = try TemporaryFolder("hostile")
        defer { folder.remove() }
        try folder.write("manifests/fleet.yaml", Self.fleet)
        try FileManager.default.createSymbolicLink(atPath: folder.path + "/manifests/all", withDestinationPath: "/")
        let start = Date()
        let result = try SendpathBinary.run(["validate", "manifests"], directory: folder.path, timeout: 30)
        #expect(Date().timeIntervalSince(start) < 20)
        #expect(result.status == 65, "\(result.stderr)")
        #expect(result.stderr.contains("manifests/all:1:1: error: [path-outside-root]"), "\(result.stderr)")
    }

    // MARK: - No traps

    @Test(arguments: [
        ("window: {start: \"2024-01-16T20:00:00Z\", end: \"2024-01-17T00:00:00Z\"}", "window: {start: \"2024-01-16T20:00:00Z\", end: \"2300-01-17T00:00:00Z\"}"),
        ("window: {start: \"2024-01-16T20:00:00Z\", end: \"2024-01-17T00:00:00Z\"}", "window: {start: \"1600-01-16T20:00:00Z\", end: \"2024-01-17T00:00:00Z\"}"),
        ("notice: {sentAt: \"2023-12-01T09:00:00Z\"}", "notice: {sentAt: \"2262-04-11T23:47:17Z\"}"),
        ("notice: {sentAt: \"2023-12-01T09:00:00Z\"}", "notice: {sentAt: \"2023-12-01T09:00:00Z\"}\n  maxParallel: 1e23"),
    ])
    func manifestValuesBeyondTheRangeAreRejectedByValidateAndReconcile(original: String, replacement: String) throws {
        let folder = try TemporaryFolder("hostile")
        defer { folder.remove() }
        try folder.write("manifests/fleet.yaml", Self.fleet.replacingOccurrences(of: original, with: replacement))
        for arguments in [["validate"], ["reconcile", "--dry-run", "--at", "2024-01-16T21:00:00Z"]] {
            let result = try SendpathBinary.run(arguments, directory: folder.path)
            #expect(Self.didNotTrap(result), "\(arguments) trapped: \(result.stderr)")
            #expect(result.status == 65, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("[value-out-of-range]"), "\(result.stderr)")
        }
    }

    @Test(arguments: ["rollbackReserve: 999999d", "bakeTime: 99999999999d", "resendMaxAge: 106752d"])
    func policyDurationsBeyondTheRangeAreRejected(policy: String) throws {
        let folder = try TemporaryFolder("hostile")
        defer { folder.remove() }
        try folder.write("manifests/fleet.yaml", Self.fleet)
        try folder.write("manifests/policy.yaml", "apiVersion: sendpath/v1\nkind: Policy\nmetadata: {name: default}\nspec: {\(policy)}\n")
        let validate = try SendpathBinary.run(["validate"], directory: folder.path)
        #expect(validate.status == 65, "\(validate.stderr)")
        #expect(validate.stderr.contains("[value-out-of-range]") && validate.stderr.contains("longer than 3650d"), "\(validate.stderr)")
        let apply = try SendpathBinary.run(["reconcile", "--at", "2024-01-16T21:00:00Z"], directory: folder.path)
        #expect(Self.didNotTrap(apply), "\(apply.stderr)")
        #expect(apply.status == 65, "\(apply.stderr)")
    }

    @Test(arguments: [
        (["reconcile", "--dry-run", "--at", "2300-01-01T00:00:00Z"], "--at '2300-01-01T00:00:00Z' is out of range"),
        (["reconcile", "--dry-run", "--at", "1600-01-01T00:00:00Z"], "--at '1600-01-01T00:00:00Z' is out of range"),
        (["reconcile", "--dry-run", "--lease-ttl", "999999d"], "--lease-ttl '999999d' is out of range"),
        (["reconcile", "--dry-run", "--lease-ttl", "99999999999d"], "--lease-ttl '99999999999d' is out of range"),
        (["controller", "--interval", "999999d"], "--interval '999999d' is out of range"),
        (["validate", "--max-file-size", "99999999999999"], "--max-file-size 99999999999999 is out of range: it must be from 1 to 1024"),
        (["validate", "--max-file-size", "9223372036854775807"], "--max-file-size 9223372036854775807 is out of range"),
        (["reconcile", "--dry-run", "--attempts", "9223372036854775807"], "--attempts 9223372036854775807 is out of range"),
        (["reconcile", "--dry-run", "--provider", "sim:.sendpath/fleet.db?latency=999999d"], "--provider latency '999999d' is out of range"),
        (["simulator", "serve", "--latency", "99999999999d"], "--latency '99999999999d' is out of range"),
        (["reconcile", "--dry-run", "--retry-delay", "3650d"], "--retry-delay '3650d' is out of range: it must be from 0s to 1h"),
    ])
    func flagValuesBeyondTheRangeAreUsageErrors(arguments: [String], message: String) throws {
        let folder = try TemporaryFolder("hostile")
        defer { folder.remove() }
        try folder.write("manifests/fleet.yaml", Self.fleet)
        let result = try SendpathBinary.run(arguments, directory: folder.path, timeout: 30)
        #expect(Self.didNotTrap(result), "\(result.stderr)")
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(!result.stderr.contains("-1.0 MiB"))
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/.sendpath"))
    }

    @Test func aFolderAsTheStateDatabaseIsRefused() throws {
        let folder = try TemporaryFolder("hostile")
        defer { folder.remove() }
        try folder.write("manifests/fleet.yaml", Self.fleet)
        for arguments in [["reconcile", "--dry-run", "--state", "sqlite:."], ["reconcile", "--state", "sqlite:.", "--at", "2024-01-16T21:00:00Z"],
                          ["status", "--state", "sqlite:manifests"]] {
            let result = try SendpathBinary.run(arguments, directory: folder.path)
            #expect(Self.didNotTrap(result), "\(arguments): \(result.stderr)")
            #expect(result.status == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("is a folder, not a database file"), "\(arguments): \(result.stderr)")
        }
    }

    // MARK: - Unclear messages

    @Test func anUnknownWaveWithJSONOutputPrintsAUsageReport() throws {
        let folder = try TemporaryFolder("hostile")
        defer { folder.remove() }
        try folder.write("manifests/fleet.yaml", Self.fleet)
        for arguments in [["reconcile", "--dry-run", "--at", "2024-01-16T21:00:00Z"], ["status"], ["notify"]] {
            let result = try SendpathBinary.run(arguments + ["--wave", "nope", "--output", "json"], directory: folder.path)
            #expect(result.status == 64, "\(result.stderr)")
            let report = try result.json()
            #expect(report["outcome"] as? String == "usage", "\(result.stdout)")
            #expect((report["error"] as? String)?.contains("no wave named 'nope'") == true, "\(result.stdout)")
            #expect(result.stderr.contains("no wave named 'nope'"))
            #expect(!FileManager.default.fileExists(atPath: folder.path + "/.sendpath/state.db"))
        }
    }

    // MARK: - Forged output

    @Test func aScalarCannotForgeADiagnosticLineOrReachTheTerminal() throws {
        let folder = try TemporaryFolder("hostile")
        defer { folder.remove() }
        let forged = "x\\nmanifests/fleet.yaml:1:1: warning: [fake] looks fine\\e[2K\\e]0;title\\a\\0"
        try folder.write("manifests/fleet.yaml", Self.fleet.replacingOccurrences(of: "environment: prod", with: "environment: \"\(forged)\""))
        for format in ["text", "json", "sarif"] {
            let result = try SendpathBinary.run(["validate", "manifests", "--output", format], directory: folder.path)
            #expect(result.status == 65)
            let output = result.stdout + result.stderr
            #expect(!output.contains("\u{1B}") && !output.contains("\u{7}") && !output.contains("\u{0}"), "\(format)")
            let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(!lines.contains { $0.hasPrefix("manifests/fleet.yaml:1:1: warning") }, "\(format): \(output)")
        }
        let text = try SendpathBinary.run(["validate", "manifests"], directory: folder.path)
        // Two diagnostics, two lines: the documentation prefix's warning and the bad value.
        let diagnostics = text.stderr.split(separator: "\n").filter { $0.hasPrefix("manifests/") }
        #expect(diagnostics.count == 2, "\(text.stderr)")
        #expect(diagnostics.last?.contains("[bad-enum]") == true && diagnostics.last?.contains("\\u{1B}[2K") == true, "\(text.stderr)")
    }

    @Test func anErrorMessageCannotForgeALineEither() throws {
        let folder = try TemporaryFolder("hostile")
        defer { folder.remove() }
        try folder.write("manifests/fleet.yaml", Self.fleet)
        // The faults file's name comes back in the error a provider raises, as any provider text may.
        let forged = "no\nmanifests/fleet.yaml:1:1: warning: [fake] all good\u{1B}[2K"
        for output in ["text", "json", "html"] {
            let result = try SendpathBinary.run(["reconcile", "--dry-run", "--at", "2024-01-16T21:00:00Z", "--output", output,
                                                 "--provider", "sim:.sendpath/fleet.db?faults=" + forged], directory: folder.path)
            #expect(result.status == 1, "\(result.stderr)")
            let lines = (result.stdout + result.stderr).split(separator: "\n")
            #expect(!lines.contains { $0.hasPrefix("manifests/fleet.yaml:1:1: warning: [fake]") }, "\(result.stderr)")
            #expect(!(result.stdout + result.stderr).contains("\u{1B}"))
            #expect(result.stderr.contains("sendpath: error: no\\nmanifests/fleet.yaml:1:1: warning: [fake] all good\\u{1B}[2K"), "\(result.stderr)")
        }
    }
}
