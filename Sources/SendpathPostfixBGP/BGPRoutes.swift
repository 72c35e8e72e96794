import SendpathCore
import Foundation

/// GoBGP speakers and the route collector, through the `gobgp` command-line client
/// (`gobgp -u HOST -p PORT ...`, GoBGP's gRPC API).
struct BGPRoutes: Sendable {
    let configuration: PostfixBGPConfiguration
    let tools: ToolRunner
    /// How often the collector is read while waiting for a route change to arrive.
    var pollInterval: Duration = .milliseconds(20)

    private func client(_ api: PostfixBGPConfiguration.HostPort) -> [String] { ["-u", api.host, "-p", String(api.port)] }

    /// Announces `cidr` from `site`'s speaker.
    func announce(_ cidr: AddressBlock, at site: Infrastructure) async throws(ProviderError) {
        let speaker = try self.speaker(site)
        try await tools.run("gobgp", client(speaker.bgpAPI) + ["global", "rib", "add", "-a", family(cidr), cidr.description, "origin", "igp"])
    }

    /// Withdraws `cidr` at `site`'s speaker (nothing to do when it does not announce it).
    func withdraw(_ cidr: AddressBlock, at site: Infrastructure) async throws(ProviderError) {
        let speaker = try self.speaker(site)
        guard try await localRIB(site).contains(cidr) else { return }
        try await tools.run("gobgp", client(speaker.bgpAPI) + ["global", "rib", "del", "-a", family(cidr), cidr.description])
    }

    /// The prefixes `site`'s speaker originates now.
    func localRIB(_ site: Infrastructure) async throws(ProviderError) -> Set<AddressBlock> {
        let speaker = try self.speaker(site)
        var result = Set<AddressBlock>()
        for family in ["ipv4", "ipv6"] {
            let output = try await tools.run("gobgp", client(speaker.bgpAPI) + ["-j", "global", "rib", "-a", family])
            for (cidr, _) in try Self.paths(output.stdout, from: "\(site.rawValue) speaker") { result.insert(cidr) }
        }
        return result
    }

    /// Which sites each prefix is heard from at the collector (by the origin AS of each path).
    /// A path whose origin AS is no site's is reported as coming from nowhere Sendpath knows.
    func heardAt(collector cidrs: Set<AddressBlock>) async throws(ProviderError) -> [AddressBlock: Set<Infrastructure>] {
        var result: [AddressBlock: Set<Infrastructure>] = [:]
        let families = Set(cidrs.map(family))
        for family in families.sorted() {
            let output = try await tools.run("gobgp", client(configuration.collector) + ["-j", "global", "rib", "-a", family])
            for (cidr, origins) in try Self.paths(output.stdout, from: "collector") where cidrs.contains(cidr) {
                for origin in origins {
                    if let site = configuration.sites.first(where: { $0.value.asn == origin })?.key {
                        result[cidr, default: []].insert(site)
                    }
                }
            }
        }
        return result
    }

    /// Waits until the collector hears `cidr` from exactly `sites` (an empty set: from nowhere),
    /// polling until `deadline`.
    func waitUntilHeard(_ cidr: AddressBlock, from sites: Set<Infrastructure>, deadline: ContinuousClock.Instant) async throws(ProviderError) {
        while true {
            let heard = try await heardAt(collector: [cidr])[cidr] ?? []
            if heard == sites { return }
            guard ContinuousClock.now < deadline else {
                let now = heard.isEmpty ? "nowhere" : heard.map(\.rawValue).sorted().joined(separator: " and ")
                let wanted = sites.isEmpty ? "nowhere" : sites.map(\.rawValue).sorted().joined(separator: " and ")
                throw ProviderError(.timeout, "the collector still hears \(cidr) from \(now), not \(wanted), after \(configuration.routeTimeout)")
            }
            do { try await Task.sleep(for: pollInterval) } catch { throw ProviderError(.transient, "cancelled while waiting for \(cidr) at the collector") }
        }
    }

    private func speaker(_ site: Infrastructure) throws(ProviderError) -> PostfixBGPConfiguration.Site {
        guard let speaker = configuration.sites[site] else {
            throw ProviderError(.rejected, "the provider configuration has no site \(site.rawValue)")
        }
        return speaker
    }

    private func family(_ cidr: AddressBlock) -> String { cidr.network.bitWidth == 32 ? "ipv4" : "ipv6" }

    /// The prefixes of a `gobgp -j global rib` answer with the origin AS of each path (the
    /// last AS of its AS_PATH; a path the speaker originates itself has none).
    static func paths(_ json: [UInt8], from source: String) throws(ProviderError) -> [(AddressBlock, [UInt32])] {
        let space: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") }
        var trimmed = json.drop(while: space)
        while let last = trimmed.last, space(last) { trimmed = trimmed.dropLast() }
        if trimmed.isEmpty || trimmed.elementsEqual("null".utf8) { return [] }
        guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed)) as? [String: Any] else {
            throw ProviderError(.transient, "the \(source)'s gobgp answer is not a JSON RIB")
        }
        var result: [(AddressBlock, [UInt32])] = []
        for (key, value) in object {
            guard case .success(let cidr) = AddressBlock.parse(key) else { continue }
            var origins: [UInt32] = []
            for path in value as? [[String: Any]] ?? [] where (path["withdrawal"] as? Bool) != true {
                let attributes = path["attrs"] as? [[String: Any]] ?? []
                let asPath = attributes.first { ($0["type"] as? Int) == 2 }
                let segments = asPath?["as_paths"] as? [[String: Any]] ?? []
                if let last = segments.last?["asns"] as? [Any], let origin = last.last as? NSNumber {
                    origins.append(origin.uint32Value)
                } else {
                    origins.append(0)
                }
            }
            result.append((cidr, origins))
        }
        return result
    }
}
