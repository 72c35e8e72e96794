@testable import SendpathCore

/// A small fleet built in code: tenant acme with a dev instance (wave nonprod) and two prod
/// instances sharing prefix pfx-prod (wave prod, after nonprod); tenant beta with one prod
/// instance whose two IPs span pfx-beta-a and pfx-beta-b (one group of two prefixes).
struct PlannerFixture {
    static let here = SourceLocation(file: "fixture.yaml", line: 1, column: 1)
    static func t(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }
    static let dc = SendingPath(infrastructure: .adobeDC, location: "dc1")
    static let aws = SendingPath(infrastructure: .aws, location: "eu-west-1")

    static let nonprodWindow = Window(start: t("2023-10-10T20:00:00Z"), end: t("2023-10-11T00:00:00Z"))
    static let prodWindow = Window(start: t("2024-01-16T20:00:00Z"), end: t("2024-01-17T00:00:00Z"))

    var nonprodNotice: Timestamp? = t("2023-09-25T09:00:00Z")
    var prodNotice: Timestamp? = t("2023-12-01T09:00:00Z")
    var policy = Policy()

    static func metadata(_ name: String) -> Metadata {
        Metadata(name: Located(name, at: here), documentLocation: here)
    }

    static func instance(_ name: String, tenant: String, environment: Environment, ips: [String], wave: String) -> Instance {
        Instance(metadata: metadata(name), tenant: tenant, product: .campaignClassicV7, hosting: .managedServices,
                 environment: environment, build: "7.3.5 build 9368",
                 sendingIPs: ips.map { Located(IPAddress($0)!, at: here) }, sendingPath: Located(aws, at: here), wave: Located(wave, at: here))
    }

    static func prefix(_ name: String, _ cidr: String) -> AddressPrefix {
        AddressPrefix(metadata: metadata(name), cidr: Located(try! AddressBlock.parse(cidr).get(), at: here))
    }

    var fleet: Fleet {
        var set = ManifestSet()
        set.instances = [
            Self.instance("acme-dev1", tenant: "acme", environment: .dev, ips: ["198.51.100.10"], wave: "nonprod"),
            Self.instance("acme-prod1", tenant: "acme", environment: .prod, ips: ["192.0.2.10"], wave: "prod"),
            Self.instance("acme-prod2", tenant: "acme", environment: .prod, ips: ["192.0.2.11"], wave: "prod"),
            Self.instance("beta-prod1", tenant: "beta", environment: .prod, ips: ["203.0.113.10", "198.18.0.10"], wave: "prod"),
        ]
        set.prefixes = [Self.prefix("pfx-dev", "198.51.100.0/24"), Self.prefix("pfx-prod", "192.0.2.0/24"),
                        Self.prefix("pfx-beta-a", "203.0.113.0/24"), Self.prefix("pfx-beta-b", "198.18.0.0/24")]
        set.waves = [
            Wave(metadata: Self.metadata("nonprod"), window: Self.nonprodWindow, windowLocation: Self.here,
                 noticeSentAt: nonprodNotice.map { Located($0, at: Self.here) }),
            Wave(metadata: Self.metadata("prod"), window: Self.prodWindow, windowLocation: Self.here,
                 after: [Located("nonprod", at: Self.here)], noticeSentAt: prodNotice.map { Located($0, at: Self.here) }),
        ]
        set.policies = [policy]
        let result = FleetValidator.validate(set)
        precondition(result.fleet != nil, "fixture invalid: \(result.diagnostics)")
        return result.fleet!
    }

    /// Everything on the data center, as declared.
    static func observed(_ fleet: Fleet, at path: SendingPath = dc) -> [String: ObservedInstance] {
        Dictionary(uniqueKeysWithValues: fleet.instances.map {
            ($0.name, ObservedInstance(name: $0.name, path: path, frozen: false, sendingIPs: $0.declaredIPs, build: $0.build, queueDepth: 0))
        })
    }

    static func prefixes(_ fleet: Fleet, at path: SendingPath = dc) -> [AddressBlock: ObservedPrefix] {
        Dictionary(uniqueKeysWithValues: fleet.prefixes.map { ($0.cidr.value, ObservedPrefix(cidr: $0.cidr.value, advertisedFrom: [path])) })
    }

    /// Instances and prefixes of one group moved to the target.
    static func move(_ group: CutoverGroup, in observed: inout [String: ObservedInstance], _ prefixes: inout [AddressBlock: ObservedPrefix]) {
        for name in group.instances { observed[name]?.path = group.target }
        for block in group.blocks { prefixes[block] = ObservedPrefix(cidr: block, advertisedFrom: [group.target]) }
    }

    static func completed(_ group: CutoverGroup, finishedAt: Timestamp, number: Int = 1, outcome: CutoverOutcome = .completed,
                          window: Window = prodWindow, entries: [JournalEntry] = []) -> CutoverRecord {
        CutoverRecord(id: "\(group.id)#\(number)", group: group.id, wave: group.wave, members: group.instances, window: window,
                      startedAt: finishedAt - .seconds(600), finishedAt: outcome == .completed || outcome == .rolledBack || outcome == .held ? finishedAt : nil,
                      outcome: outcome, reason: outcome == .completed ? nil : "verification failed: ips",
                      baseline: CutoverBaseline(members: [:], prefixes: [:], target: group.target), entries: entries)
    }
}
