public import SendpathCore
import SendpathYAML

/// The `postfix-bgp:CONFIG` provider's configuration: where each instance's Postfix MTAs are
/// (one per site), each site's GoBGP speaker, and the route collector (docs/postfix-bgp.md).
///
/// ```yaml
/// stateDirectory: /var/lib/sendpath-provider   # the provider's ledger (created, 0700)
/// commandTimeout: 15s                          # each postfix, postconf, postsuper, gobgp call
/// routeTimeout: 30s                            # to see a withdrawal or an announcement at the collector
/// collector: {api: 127.0.0.1:50073}
/// sites:
///   adobe-dc: {location: or1, bgp: {api: 127.0.0.1:50071, asn: 65001}}
///   aws: {location: us-east-1, bgp: {api: 127.0.0.1:50072, asn: 65002}}
/// instances:
///   acme-prod1:
///     mta: {adobe-dc: /etc/postfix-acme-prod1, aws: /srv/aws/postfix-acme-prod1}
/// ```
public struct PostfixBGPConfiguration: Sendable, Hashable {
    public var stateDirectory: String
    public var commandTimeout: Duration
    public var routeTimeout: Duration
    public var collector: HostPort
    public var sites: [Infrastructure: Site]
    /// Instance name to its MTA's Postfix configuration directory per site.
    public var instances: [String: [Infrastructure: String]]

    public struct Site: Sendable, Hashable {
        public var location: String
        public var bgpAPI: HostPort
        public var asn: UInt32
    }

    /// A `HOST:PORT` address (IPv6 hosts in brackets).
    public struct HostPort: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init?(_ text: String) {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            var host = String(text[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || ".-:".contains($0) }),
                  let port = Int(text[text.index(after: colon)...]), (1...65_535).contains(port) else { return nil }
            self.host = host
            self.port = port
        }

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// The site (and its location) an infrastructure stands for.
    public func path(_ site: Infrastructure) -> SendingPath {
        SendingPath(infrastructure: site, location: sites[site]?.location ?? "")
    }

    /// Reads and checks the file at `path`; every problem is a diagnostic with file:line:column.
    public static func load(path: String) throws(PostfixBGPConfigurationError) -> PostfixBGPConfiguration {
        let documents: [YAMLNode]
        do {
            documents = try YAMLTree.load(path: path, maxNodes: 200_000, maxFileSize: 16 << 20)
        } catch {
            throw PostfixBGPConfigurationError(diagnostics: [error.diagnostic])
        }
        var reader = ConfigurationReader(file: path)
        let configuration = reader.read(documents)
        guard reader.problems.isEmpty, let configuration else {
            throw PostfixBGPConfigurationError(diagnostics: reader.problems.sorted {
                ($0.location.line, $0.location.column) < ($1.location.line, $1.location.column)
            })
        }
        return configuration
    }
}

/// Why a provider configuration was refused: every problem at once, one line each.
public struct PostfixBGPConfigurationError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// Walks the YAML tree of a configuration, collecting every problem.
private struct ConfigurationReader {
    let file: String
    var problems: [Diagnostic] = []

    init(file: String) { self.file = file }

    mutating func read(_ documents: [YAMLNode]) -> PostfixBGPConfiguration? {
        let documents = documents.filter { !$0.isNull }
        guard let root = documents.first else {
            problems.append(Diagnostic(.emptyFile, at: SourceLocation(file: file, line: 1, column: 1),
                                       "the provider configuration is empty", hint: "see docs/postfix-bgp.md for its fields"))
            return nil
        }
        if documents.count > 1 {
            problems.append(Diagnostic(.wrongType, at: documents[1].location, "a provider configuration holds one document"))
        }
        guard let top = fields(root, "the provider configuration",
                               required: ["stateDirectory", "collector", "sites", "instances"],
                               optional: ["commandTimeout", "routeTimeout"]) else { return nil }
        let state = top["stateDirectory"].flatMap { text($0, "stateDirectory") }
        if let state, !state.hasPrefix("/") {
            problems.append(Diagnostic(.badValue, at: top["stateDirectory"]!.location,
                                       "'stateDirectory' must be an absolute path, found '\(Escaped.value(state))'"))
        }
        let commandTimeout = top["commandTimeout"].map { duration($0, "commandTimeout") } ?? .seconds(15)
        let routeTimeout = top["routeTimeout"].map { duration($0, "routeTimeout") } ?? .seconds(30)
        var collector: PostfixBGPConfiguration.HostPort?
        if let node = top["collector"], let fields = fields(node, "collector", required: ["api"]) {
            collector = fields["api"].flatMap { address($0, "collector api") }
        }
        var sites: [Infrastructure: PostfixBGPConfiguration.Site] = [:]
        if let node = top["sites"] {
            for (key, value) in entries(node, "sites") {
                guard let site = infrastructure(key) else { continue }
                guard let fields = fields(value, "site '\(key.value)'", required: ["location", "bgp"]) else { continue }
                let location = fields["location"].flatMap { text($0, "location") }
                var api: PostfixBGPConfiguration.HostPort?, asn: UInt32?
                if let bgp = fields["bgp"], let bgpFields = self.fields(bgp, "bgp of site '\(key.value)'", required: ["api", "asn"]) {
                    api = bgpFields["api"].flatMap { address($0, "bgp api") }
                    asn = bgpFields["asn"].flatMap { self.asn($0) }
                }
                if let location, let api, let asn { sites[site] = .init(location: location, bgpAPI: api, asn: asn) }
            }
            let asns = sites.values.map(\.asn)
            if Set(asns).count != asns.count {
                problems.append(Diagnostic(.badValue, at: node.location, "two sites have the same BGP AS number",
                                           hint: "the collector tells sites apart by the origin AS of a route"))
            }
        }
        var instances: [String: [Infrastructure: String]] = [:]
        if let node = top["instances"] {
            for (key, value) in entries(node, "instances") {
                guard let fields = fields(value, "instance '\(key.value)'", required: ["mta"]) else { continue }
                var mtas: [Infrastructure: String] = [:]
                if let mta = fields["mta"] {
                    for (siteKey, directory) in entries(mta, "mta of instance '\(key.value)'") {
                        guard let site = infrastructure(siteKey), let path = text(directory, "mta \(siteKey.value)") else { continue }
                        if !path.hasPrefix("/") {
                            problems.append(Diagnostic(.badValue, at: directory.location,
                                                       "an MTA is named by the absolute path of its Postfix configuration directory, found '\(Escaped.value(path))'"))
                        } else if sites[site] == nil && top["sites"] != nil {
                            problems.append(Diagnostic(.danglingReference, at: siteKey.location,
                                                       "instance '\(key.value)' has an MTA at site '\(siteKey.value)', which 'sites' does not declare"))
                        } else {
                            mtas[site] = path
                        }
                    }
                    if mtas.count < 2 && problems.isEmpty {
                        problems.append(Diagnostic(.missingField, at: mta.location,
                                                   "instance '\(key.value)' needs an MTA at each site it moves between (adobe-dc and aws)"))
                    }
                }
                instances[key.value] = mtas
            }
        }
        guard let state, let collector else { return nil }
        return PostfixBGPConfiguration(stateDirectory: state, commandTimeout: commandTimeout, routeTimeout: routeTimeout,
                                       collector: collector, sites: sites, instances: instances)
    }

    /// A mapping's fields by name, after checking for unknown and missing ones.
    mutating func fields(_ node: YAMLNode, _ what: String, required: [String], optional: [String] = []) -> [String: YAMLNode]? {
        guard case .mapping(let entries, let location) = node else {
            problems.append(Diagnostic(.wrongType, at: node.location, "\(what) must be a mapping, found \(node.kindDescription)"))
            return nil
        }
        var result: [String: YAMLNode] = [:]
        let known = required + optional
        for entry in entries {
            guard known.contains(entry.key.value) else {
                problems.append(Diagnostic(.unknownField, at: entry.key.location,
                                           "unknown field '\(Escaped.value(entry.key.value))' in \(what)",
                                           hint: "its fields are " + known.joined(separator: ", ")))
                continue
            }
            result[entry.key.value] = entry.value
        }
        for field in required where result[field] == nil && !entries.contains(where: { $0.key.value == field }) {
            problems.append(Diagnostic(.missingField, at: location, "\(what) is missing the required field '\(field)'"))
        }
        return result
    }

    mutating func entries(_ node: YAMLNode, _ what: String) -> [(YAMLScalar, YAMLNode)] {
        guard case .mapping(let entries, _) = node else {
            problems.append(Diagnostic(.wrongType, at: node.location, "'\(what)' must be a mapping, found \(node.kindDescription)"))
            return []
        }
        return entries.map { ($0.key, $0.value) }
    }

    mutating func text(_ node: YAMLNode, _ what: String) -> String? {
        guard let scalar = node.scalar, !scalar.isNull, !scalar.value.isEmpty else {
            problems.append(Diagnostic(.wrongType, at: node.location, "'\(what)' must be a string, found \(node.kindDescription)"))
            return nil
        }
        guard !scalar.value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            problems.append(Diagnostic(.controlCharacter, at: scalar.location, "'\(what)' holds a control character: '\(Escaped.value(scalar.value))'"))
            return nil
        }
        return scalar.value
    }

    mutating func duration(_ node: YAMLNode, _ what: String) -> Duration {
        guard let text = text(node, what) else { return .zero }
        guard let value = ManifestDuration.parse(text), value >= .milliseconds(100), value <= .seconds(3600) else {
            problems.append(Diagnostic(.badDuration, at: node.location, "'\(what)' must be a duration from 100ms to 1h, found '\(Escaped.value(text))'",
                                       hint: "for example 15s"))
            return .zero
        }
        return value
    }

    mutating func address(_ node: YAMLNode, _ what: String) -> PostfixBGPConfiguration.HostPort? {
        guard let text = text(node, what) else { return nil }
        guard let value = PostfixBGPConfiguration.HostPort(text) else {
            problems.append(Diagnostic(.badValue, at: node.location, "'\(what)' must be HOST:PORT, found '\(Escaped.value(text))'",
                                       hint: "for example 127.0.0.1:50051 (gobgpd --api-hosts)"))
            return nil
        }
        return value
    }

    mutating func asn(_ node: YAMLNode) -> UInt32? {
        guard let scalar = node.scalar, scalar.isPlain, let value = scalar.integer, (1...4_294_967_294).contains(value) else {
            problems.append(Diagnostic(.valueOutOfRange, at: node.location, "'asn' must be an AS number from 1 to 4294967294",
                                       hint: "for example 65001 (a private AS number)"))
            return nil
        }
        return UInt32(value)
    }

    mutating func infrastructure(_ key: YAMLScalar) -> Infrastructure? {
        guard let site = Infrastructure(rawValue: key.value) else {
            problems.append(Diagnostic(.badEnum, at: key.location, "unknown site '\(Escaped.value(key.value))'",
                                       hint: "sites are " + Infrastructure.allCases.map(\.rawValue).joined(separator: ", ")))
            return nil
        }
        return site
    }
}
