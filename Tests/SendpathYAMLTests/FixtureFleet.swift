import Foundation
@testable import SendpathCore
@testable import SendpathYAML

/// Builds small manifest sets in a temporary folder and loads them.
struct FixtureFleet {
    /// A valid fleet: one prefix, one wave, two instances, a policy.
    static let prefix = """
    apiVersion: sendpath/v1
    kind: AddressPrefix
    metadata:
      name: pfx-a
    spec:
      cidr: 198.51.100.0/24
      awsRegion: eu-west-1
    """

    static let wave = """
    apiVersion: sendpath/v1
    kind: Wave
    metadata:
      name: w1
    spec:
      window:
        start: 2024-01-16T20:00:00Z
        end: 2024-01-17T00:00:00Z
      notice:
        sentAt: 2023-12-01T09:00:00Z
    """

    static func instance(_ name: String, ip: String = "198.51.100.10", wave: String = "w1",
                         environment: String = "prod", location: String = "eu-west-1") -> String {
        """
        apiVersion: sendpath/v1
        kind: Instance
        metadata:
          name: \(name)
        spec:
          tenant: acme
          product: campaign-classic-v7
          hosting: managed-services
          environment: \(environment)
          build: "7.3.5 build 9368"
          sendingIPs: [\(ip)]
          sendingPath: {infrastructure: aws, location: \(location)}
          wave: \(wave)
        """
    }

    static func tenant(_ name: String, contacts: String = "[ops@example.com]", extra: String = "") -> String {
        """
        apiVersion: sendpath/v1
        kind: Tenant
        metadata:
          name: \(name)
        spec:
          contacts: \(contacts)
        """ + extra
    }

    /// Decodes one file's text as `name`, without the rules across documents.
    static func decode(_ text: String, file: String = "test.yaml", limits: YAMLLimits = YAMLLimits()) -> (documents: [ManifestDocument], diagnostics: [Diagnostic]) {
        let decoder = ManifestFileDecoder(file: file, bytes: Array(text.utf8), limits: limits)
        decoder.decode()
        return (decoder.documents.documents, decoder.diagnostics)
    }

    /// Writes files into a fresh temporary folder and loads it fully (with validation).
    static func load(_ files: [String: String]) throws -> (result: ManifestLoadResult, folder: String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sendpath-\(UUID().uuidString)").path
        for (name, text) in files {
            let path = folder + "/" + name
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        return (ManifestLoader().load(paths: [folder]), folder)
    }

    /// Loads documents joined into one file and returns the diagnostics with the folder prefix removed.
    static func validate(_ documents: [String]) throws -> [Diagnostic] {
        let (result, folder) = try load(["fleet.yaml": documents.joined(separator: "\n---\n") + "\n"])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        return result.diagnostics.map {
            var copy = $0
            copy.location.file = String(copy.location.file.dropFirst(folder.count + 1))
            return copy
        }
    }
}
