@testable import SendpathCore
import Testing

/// The rules across documents run over the cores in chunks once a fleet has thousands of
/// instances (small fleets stay on one thread): problems planted far apart, across chunk
/// boundaries and in different prefixes, are each reported exactly as one
/// thread reports them, and groups that span chunks come out whole.
@Suite struct LargeFleetValidationTests {
    static let count = 10_000
    static let here = SendpathCore.SourceLocation(file: "fleet.yaml", line: 1, column: 1)
    static let aws = SendingPath(infrastructure: .aws, location: "eu-west-1")

    static func name(_ index: Int) -> String { "i-\(String(100_000 + index).dropFirst())" }

    /// Ten instances per /24, two IPs each: instance `i` sends from 10.(p / 256).(p % 256).(2k+1)
    /// and .(2k+2), with p = i / 10 and k = i % 10.
    static func ips(_ index: Int) -> [String] {
        let prefix = index / 10, slot = index % 10
        return [1, 2].map { "10.\(prefix / 256).\(prefix % 256).\(2 * slot + $0)" }
    }

    static func location(_ index: Int, line: Int) -> SendpathCore.SourceLocation {
        SendpathCore.SourceLocation(file: "fleet.yaml", line: index * 20 + line, column: 5)
    }

    static func instance(_ index: Int, ips: [String]? = nil, wave: String = "w") -> Instance {
        let name = name(index)
        return Instance(metadata: Metadata(name: Located(name, at: location(index, line: 1)), documentLocation: location(index, line: 0)),
                        tenant: "t", product: .campaignClassicV7, hosting: .managedServices, environment: .prod, build: "1",
                        sendingIPs: (ips ?? Self.ips(index)).enumerated().map { Located(IPAddress($1)!, at: location(index, line: 10 + $0)) },
                        sendingPath: Located(aws, at: location(index, line: 12)), wave: Located(wave, at: location(index, line: 13)))
    }

    static func documents(_ plant: (inout [Instance]) -> Void) -> ManifestSet {
        var set = ManifestSet()
        var instances = (0..<count).map { instance($0) }
        plant(&instances)
        set.instances = instances
        set.prefixes = (0..<count / 10).map { prefix in
            AddressPrefix(metadata: Metadata(name: Located("p-\(String(10_000 + prefix).dropFirst())", at: here), documentLocation: here),
                          cidr: Located(try! AddressBlock.parse("10.\(prefix / 256).\(prefix % 256).0/24").get(), at: here))
        }
        set.waves = ["w", "v"].map {
            Wave(metadata: Metadata(name: Located($0, at: here), documentLocation: here),
                 window: Window(start: Timestamp(rfc3339: "2030-01-01T00:00:00Z")!, end: Timestamp(rfc3339: "2030-01-01T04:00:00Z")!),
                 windowLocation: here)
        }
        return set
    }

    @Test func problemsFarApartAreEachReportedOnce() {
        let result = FleetValidator.validate(Self.documents { instances in
            // Repeats of addresses in two prefixes, each far from its first owner.
            instances[9_990] = Self.instance(9_990, ips: ["10.0.0.1", "10.3.231.2"])   // instance 0's .1 (odd)
            instances[6_001] = Self.instance(6_001, ips: [Self.ips(6_001)[0], "10.0.0.4"])  // instance 1's .4 (even)
            instances[7_777] = Self.instance(7_777, wave: "nowhere")
            instances[5_003] = Self.instance(5_003, ips: ["192.0.2.7"])
            instances[2_049] = Self.instance(2_049, wave: "v")
            // Three listings of one address; one address twice on one instance; a repeat outside every prefix.
            instances[3_005] = Self.instance(3_005, ips: [Self.ips(3_000)[0], Self.ips(3_005)[1]])
            instances[3_009] = Self.instance(3_009, ips: [Self.ips(3_009)[0], Self.ips(3_000)[0]])
            instances[4_000] = Self.instance(4_000, ips: [Self.ips(4_000)[0], Self.ips(4_000)[0]])
            instances[8_000] = Self.instance(8_000, ips: ["192.0.2.99"])
            instances[8_500] = Self.instance(8_500, ips: ["192.0.2.99"])
        })
        #expect(result.fleet == nil)
        let found = result.diagnostics.filter { $0.severity == .error }.map { "\($0.location.line) \($0.rule.rawValue): \($0.message)" }
        #expect(found == [
            "\(2_049 * 20 + 13) prefix-split: instance 'i-02049' is in wave 'v' but shares prefix 'p-0204' with 'i-02040' in wave 'w'",
            "\(3_005 * 20 + 10) duplicate-ip: IP 10.1.44.1 is declared on both 'i-03000' and 'i-03005'",
            "\(3_009 * 20 + 11) duplicate-ip: IP 10.1.44.1 is declared on both 'i-03000' and 'i-03009'",
            "\(4_000 * 20 + 11) duplicate-ip: IP 10.1.144.1 is listed twice on instance 'i-04000'",
            "\(5_003 * 20 + 10) ip-outside-prefix: IP 192.0.2.7 of instance 'i-05003' is in no declared AddressPrefix",
            "\(6_001 * 20 + 11) duplicate-ip: IP 10.0.0.4 is declared on both 'i-00001' and 'i-06001'",
            "\(7_777 * 20 + 13) dangling-reference: instance 'i-07777' is in wave 'nowhere', which is not a declared Wave",
            "\(7_777 * 20 + 13) prefix-split: instance 'i-07777' is in wave 'nowhere' but shares prefix 'p-0777' with 'i-07770' in wave 'w'",
            "\(8_000 * 20 + 10) ip-outside-prefix: IP 192.0.2.99 of instance 'i-08000' is in no declared AddressPrefix",
            "\(8_500 * 20 + 10) duplicate-ip: IP 192.0.2.99 is declared on both 'i-08000' and 'i-08500'",
            "\(8_500 * 20 + 10) ip-outside-prefix: IP 192.0.2.99 of instance 'i-08500' is in no declared AddressPrefix",
            "\(9_990 * 20 + 10) duplicate-ip: IP 10.0.0.1 is declared on both 'i-00000' and 'i-09990'",
        ])
    }

    @Test func groupsThatSpanChunksComeOutWhole() throws {
        // Instance 3 also sends from the last prefix: the first and the last prefix move as one.
        let result = FleetValidator.validate(Self.documents { instances in
            instances[3] = Self.instance(3, ips: Self.ips(3) + ["10.3.231.200"])
        })
        let fleet = try #require(result.fleet, "\(result.diagnostics)")
        #expect(fleet.groups.count == Self.count / 10 - 1)
        let joined = try #require(fleet.group(of: Self.name(Self.count - 1)))
        #expect(joined.id == "p-0000+p-0999")
        #expect(joined.instances == (0..<10).map(Self.name) + (Self.count - 10..<Self.count).map(Self.name))
        #expect(fleet.group(of: Self.name(5_555))?.instances == (5_550..<5_560).map(Self.name))
        for index in stride(from: 0, to: Self.count, by: 997) {
            #expect(fleet.group(of: Self.name(index))?.instances.contains(Self.name(index)) == true)
        }
    }

    @Test func aPrefixRememberedForTheNextAddressIsOnlyOneNothingCanBeMoreSpecificThan() {
        let blocks = ["10.0.0.0/23", "10.0.1.0/24", "2001:db8::/48"]
        let prefixes = blocks.enumerated().map { index, cidr in
            AddressPrefix(metadata: Metadata(name: Located("p\(index)", at: Self.here), documentLocation: Self.here),
                          cidr: Located(try! AddressBlock.parse(cidr).get(), at: Self.here))
        }
        var diagnostics: [Diagnostic] = []
        let table = FleetValidator.checkPrefixes(prefixes, into: &diagnostics)
        var hint: FleetValidator.PrefixTable.Hit?
        let found = ["10.0.0.5", "10.0.1.5", "10.0.1.9", "10.0.0.7", "10.0.2.1", "2001:db8::1", "2001:db8:1::1", "10.0.1.200"]
            .map { table.prefix(containing: IPAddress($0)!, hint: &hint) }
        // 10.0.0.5 is in the /23 only; 10.0.1.5 is in both, and the /24 is the more specific.
        #expect(found == [0, 1, 1, 0, nil, 2, nil, 1])
    }
}
