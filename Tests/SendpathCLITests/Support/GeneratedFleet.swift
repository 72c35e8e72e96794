import Foundation

/// Writes a fleet of `groups` cut-over groups (one /24 each, `perGroup` instances) in one
/// wave whose window holds `inWindow`, with a manifest notice long enough before it.
enum GeneratedFleet {
    static let windowStart = "2024-03-02T20:00:00Z"
    static let windowEnd = "2024-03-03T04:00:00Z"
    static let inWindow = "2024-03-02T21:00:00Z"
    static let beforeWindow = "2024-03-02T19:00:00Z"

    /// A window open now (from an hour ago to seven hours ahead), announced 40 days ago: for
    /// runs against providers that only act at the real time (`--at` is refused for them).
    static func liveWindow() -> (start: String, end: String, notice: String) {
        let formatter = ISO8601DateFormatter()
        let now = Date()
        return (formatter.string(from: now.addingTimeInterval(-3600)), formatter.string(from: now.addingTimeInterval(7 * 3600)),
                formatter.string(from: now.addingTimeInterval(-40 * 86_400)))
    }

    static func write(into folder: TemporaryFolder, groups: Int, perGroup: Int = 2, maxParallel: Int = 4, policy: String = "",
                      window: (start: String, end: String, notice: String)? = nil, withNotice: Bool = true,
                      waveSpec: String = "") throws {
        var prefixes = "", instances = ""
        for g in 0..<groups {
            prefixes += "---\napiVersion: sendpath/v1\nkind: AddressPrefix\nmetadata: {name: pfx-\(g)}\nspec: {cidr: 10.\(g / 256).\(g % 256).0/24}\n"
            for i in 0..<perGroup {
                instances += """
                ---
                apiVersion: sendpath/v1
                kind: Instance
                metadata: {name: inst-\(g)-\(i)}
                spec:
                  tenant: tenant-\(g % 5)
                  product: campaign-classic-v7
                  hosting: managed-services
                  environment: prod
                  build: "7.3.5 build 9368"
                  sendingIPs: [10.\(g / 256).\(g % 256).\(10 + i)]
                  sendingPath: {infrastructure: aws, location: eu-west-1}
                  wave: wave-a

                """
            }
        }
        let wave = """
        apiVersion: sendpath/v1
        kind: Wave
        metadata: {name: wave-a}
        spec:
          window: {start: \(window?.start ?? windowStart), end: \(window?.end ?? windowEnd)}
          maxParallel: \(maxParallel)
        \(withNotice ? "  notice: {sentAt: \(window?.notice ?? "2024-01-15T09:00:00Z")}" : "")
        \(waveSpec.isEmpty ? "" : "  " + waveSpec)

        """
        try folder.write("manifests/prefixes.yaml", prefixes)
        try folder.write("manifests/instances.yaml", instances)
        try folder.write("manifests/wave.yaml", wave)
        if !policy.isEmpty {
            try folder.write("manifests/policy.yaml", "apiVersion: sendpath/v1\nkind: Policy\nmetadata: {name: default}\nspec: {\(policy)}\n")
        }
    }
}

extension SendpathBinary.Result {
    /// The stdout parsed as one JSON object.
    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any] else {
            throw JSONShapeError(text: stdout)
        }
        return object
    }
}

struct JSONShapeError: Error { var text: String }
