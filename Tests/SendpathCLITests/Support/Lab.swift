import Foundation
import Testing

/// The real-daemon lab (`scripts/lab.sh`: Postfix MTAs, GoBGP speakers and a collector, an
/// SMTP sink) brought up by a test in its own folder, and the lab's own report
/// (`scripts/lab/report.py`) over what the sink and the collector recorded. Only one lab runs
/// at a time (its loopback ports are fixed): the CLI tests run one at a time.
struct Lab {
    let directory: String
    let json: [String: Any]

    static let script = SendpathBinary.packageRoot + "/scripts/lab.sh"
    static let python = "/usr/bin/python3"

    /// Runs `scripts/lab.sh` with this lab's folder; returns its exit status and output.
    @discardableResult
    static func run(_ arguments: [String], directory: String, environment: [String: String] = [:],
                    timeout: TimeInterval = 180) throws -> SendpathBinary.Result {
        try Command.run(script, arguments, environment: ["SENDPATH_LAB_DIR": directory].merging(environment) { $1 }, timeout: timeout)
    }

    /// Brings a lab up (a lab left behind by an earlier test run is brought down first).
    static func up(_ label: String, environment: [String: String] = [:]) throws -> Lab {
        let directory = "/tmp/sendpath-test-lab-\(label)"
        try run(["down"], directory: directory)
        let up = try run(["up"], directory: directory, environment: environment)
        guard up.status == 0, let data = FileManager.default.contents(atPath: directory + "/lab.json"),
              let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LabError(message: "scripts/lab.sh up failed (\(up.status)): \(up.stdout)\(up.stderr)")
        }
        return Lab(directory: directory, json: json)
    }

    func down() {
        _ = try? Self.run(["down"], directory: directory)
    }

    var manifests: String { json["manifests"] as? String ?? directory + "/manifests" }
    var providerURL: String { json["provider"] as? String ?? "postfix-bgp:\(directory)/provider.yaml" }
    var providerConfig: String { String(providerURL.dropFirst("postfix-bgp:".count)) }
    var instances: [String] { ((json["instances"] as? [String: Any]) ?? [:]).keys.sorted() }

    /// The configuration directory of an instance's MTA at a site.
    func mta(_ instance: String, _ site: String) -> String { "\(directory)/mta/\(instance)/\(site)" }

    func backlog(_ instance: String, _ count: Int) throws {
        let result = try Self.run(["backlog", instance, String(count)], directory: directory)
        guard result.status == 0 else { throw LabError(message: "backlog \(instance) \(count): \(result.stderr)") }
    }

    /// Submits ordinary mail to an instance's MTA at `site` (recorded in submitted.jsonl).
    func submit(_ instance: String, _ count: Int, site: String = "adobe-dc") throws {
        let result = try Self.run(["submit", instance, String(count), site], directory: directory)
        guard result.status == 0 else { throw LabError(message: "submit \(instance) \(count): \(result.stderr)") }
    }

    /// The lab's report: every backlog and submitted message delivered once, from its
    /// instance's declared IP (by `expectSites`' MTAs), nothing delivered during a freeze, no
    /// prefix heard from two origins at once. Returns the exit status and the JSON report.
    func report(state: String, expectSites: [String]) throws -> (status: Int32, text: String) {
        let arguments = ["-B", SendpathBinary.packageRoot + "/scripts/lab/report.py", "--lab", directory, "--state", state]
            + expectSites.flatMap { ["--expect-site", $0] }
        let result = try Command.run(Self.python, arguments, timeout: 120)
        return (result.status, result.stdout + result.stderr)
    }

    /// Copies what explains a failed report into `folder`: the lab's records, each MTA's
    /// maillog and queue listing (`postqueue -j`), the provider's ledger and the state file.
    func keepEvidence(in folder: String, state: String) {
        let files = FileManager.default
        try? files.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for file in ["lab.json", "backlog.jsonl", "submitted.jsonl", "deliveries.jsonl", "routes.jsonl"] {
            try? files.copyItem(atPath: directory + "/" + file, toPath: folder + "/" + file)
        }
        try? files.copyItem(atPath: directory + "/provider", toPath: folder + "/provider")
        try? files.copyItem(atPath: state, toPath: folder + "/state.db")
        for instance in instances {
            for site in ["adobe-dc", "aws"] {
                let name = "\(instance)-\(site)"
                try? files.copyItem(atPath: "\(directory)/spool/\(instance)/\(site)/maillog", toPath: "\(folder)/\(name).maillog")
                try? files.copyItem(atPath: mta(instance, site) + "/main.cf", toPath: "\(folder)/\(name).main.cf")
                if let queue = try? Command.run("/usr/sbin/postqueue", ["-c", mta(instance, site), "-j"]) {
                    _ = files.createFile(atPath: "\(folder)/\(name).queue.jsonl", contents: Data(queue.stdout.utf8))
                }
            }
        }
    }

    struct LabError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}
