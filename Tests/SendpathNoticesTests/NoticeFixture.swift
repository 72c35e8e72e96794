import Foundation
@testable import SendpathCore
import SendpathNotices
import SendpathYAML

/// A small fleet with two tenants in one wave, built through the real loader.
enum NoticeFixture {
    static func fleet(window: (String, String) = ("2024-03-02T20:00:00Z", "2024-03-03T04:00:00Z"),
                      betaInWave: Bool = true, tenants: String = defaultTenants) throws -> Fleet {
        var text = """
        apiVersion: sendpath/v1
        kind: AddressPrefix
        metadata: {name: pfx-a}
        spec: {cidr: 10.0.0.0/24}
        ---
        apiVersion: sendpath/v1
        kind: AddressPrefix
        metadata: {name: pfx-b}
        spec: {cidr: 10.0.1.0/24}
        ---
        apiVersion: sendpath/v1
        kind: Wave
        metadata: {name: wave-a}
        spec:
          window: {start: \(window.0), end: \(window.1)}

        """
        for (name, tenant, ip) in [("acme-prod1", "acme", "10.0.0.10"), ("beta-prod1", "beta", "10.0.1.10")] where tenant == "acme" || betaInWave {
            text += """
            ---
            apiVersion: sendpath/v1
            kind: Instance
            metadata: {name: \(name)}
            spec:
              tenant: \(tenant)
              product: campaign-v8
              hosting: managed-cloud-services
              environment: prod
              build: "8.9.2"
              sendingIPs: [\(ip)]
              sendingPath: {infrastructure: aws, location: eu-west-1}
              wave: wave-a

            """
        }
        text += tenants
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sendpath-notices-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try text.write(to: folder.appendingPathComponent("fleet.yaml"), atomically: true, encoding: .utf8)
        let result = ManifestLoader().load(paths: [folder.path])
        guard let fleet = result.fleet else { throw FixtureError(diagnostics: result.diagnostics.map(\.description)) }
        return fleet
    }

    static let defaultTenants = """
    ---
    apiVersion: sendpath/v1
    kind: Tenant
    metadata: {name: acme}
    spec: {contacts: [ops@acme.example, oncall@acme.example], timeZone: Europe/Paris}
    ---
    apiVersion: sendpath/v1
    kind: Tenant
    metadata: {name: beta}
    spec: {contacts: [it@beta.example], webhook: "https://hooks.beta.example/n"}

    """

    struct FixtureError: Error { var diagnostics: [String] }
}

/// Records what it was asked to deliver; fails for the tenants listed.
actor RecordingTransport: NoticeTransport {
    nonisolated let channel: NoticeDelivery.Channel
    private(set) var sent: [(tenant: String, message: NoticeMessage)] = []
    var failing: Set<String> = []

    init(_ channel: NoticeDelivery.Channel, failing: Set<String> = []) {
        self.channel = channel
        self.failing = failing
    }

    func setFailing(_ tenants: Set<String>) { failing = tenants }

    func deliver(_ message: NoticeMessage, tenant: Tenant) async throws -> [String] {
        if failing.contains(tenant.name) { throw NoticeDeliveryError(.smtp, "refused for \(tenant.name)") }
        sent.append((tenant.name, message))
        return message.to.map(\.value)
    }
}
