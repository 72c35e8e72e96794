import Foundation
import Testing
@testable import SendpathCore
@testable import SendpathYAML

/// Input once accepted silently (issue 10): empty files, prefixes BYOIP cannot take, address
/// space that is not public, tenants merged through a prefix; and syntax errors with hints.
@Suite("Stricter rules")
struct StricterRulesTests {
    static let fleet = [FixtureFleet.prefix, FixtureFleet.wave, FixtureFleet.instance("a")].joined(separator: "\n---\n")

    @Test func anEmptyFileOrOneWithOnlyASeparatorIsAWarning() throws {
        let (result, folder) = try FixtureFleet.load(["fleet.yaml": Self.fleet, "empty.yaml": "", "dashes.yml": "---\n", "comments.yaml": "# todo\n---\n---\n"])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let empty = result.diagnostics.filter { $0.rule == .emptyFile }
        #expect(empty.map { String($0.location.file.dropFirst(folder.count + 1)) } == ["comments.yaml", "dashes.yml", "empty.yaml"])
        #expect(empty.allSatisfy { $0.severity == .warning && $0.message.hasSuffix("holds no manifest document") })
        #expect(result.fleet != nil)
    }

    @Test func aManifestSetWithNoInstanceIsAWarning() throws {
        let (result, folder) = try FixtureFleet.load(["only-dashes.yaml": "---\n"])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(result.diagnostics.map(\.rule) == [.emptyFile, .noInstances], "\(result.diagnostics.map(\.description))")
        #expect(result.diagnostics.allSatisfy { $0.severity == .warning })
        #expect(result.fleet?.instances.isEmpty == true)
    }

    @Test(arguments: [("127.0.0.0/8", "loopback"), ("10.20.0.0/16", "private (RFC 1918)"), ("100.64.0.0/24", "carrier-grade NAT"),
                      ("169.254.1.0/24", "link-local"), ("192.0.2.0/24", "TEST-NET-1"), ("224.1.0.0/16", "multicast"),
                      ("\"fd00:1::/48\"", "unique local"), ("\"2001:db8:100::/48\"", "documentation (RFC 3849)"), ("\"ff02::/16\"", "multicast")])
    func nonPublicSpaceIsAWarningNamingTheRange(cidr: String, purpose: String) throws {
        let diagnostics = try FixtureFleet.validate([FixtureFleet.prefix.replacingOccurrences(of: "198.51.100.0/24", with: cidr)])
        let warnings = diagnostics.filter { $0.rule == .nonPublicAddress }
        #expect(warnings.count == 1, "\(diagnostics.map(\.description))")
        #expect(warnings.first?.severity == .warning)
        #expect(warnings.first?.message.contains(purpose) == true, "\(warnings)")
        #expect(!diagnostics.hasErrors)
    }

    @Test func prefixesInOneRangeShareOneWarningAtTheFirst() throws {
        var documents: [String] = []
        for index in 0..<300 {
            documents.append(FixtureFleet.prefix.replacingOccurrences(of: "pfx-a", with: "pfx-\(1000 - index)")
                .replacingOccurrences(of: "198.51.100.0/24", with: "10.\(index / 256).\(index % 256).0/24"))
        }
        documents.append(FixtureFleet.prefix.replacingOccurrences(of: "pfx-a", with: "pfx-lo").replacingOccurrences(of: "198.51.100.0/24", with: "127.0.0.0/24"))
        let warnings = try FixtureFleet.validate(documents).filter { $0.rule == .nonPublicAddress }
        #expect(warnings.count == 2, "\(warnings.map(\.description))")
        #expect(warnings.first?.location.line == 6)
        #expect(warnings.first?.message.hasPrefix("prefix 'pfx-1000' (10.0.0.0/24) and 299 more are in 10.0.0.0/8, private (RFC 1918)") == true,
                "\(warnings.map(\.description))")
        #expect(warnings.last?.message.hasPrefix("prefix 'pfx-lo' (127.0.0.0/24) is in 127.0.0.0/8, loopback") == true)
    }

    @Test func publicSpaceGetsNoWarning() throws {
        let diagnostics = try FixtureFleet.validate([FixtureFleet.prefix.replacingOccurrences(of: "198.51.100.0/24", with: "100.20.30.0/24")])
        #expect(!diagnostics.contains { $0.rule == .nonPublicAddress }, "\(diagnostics.map(\.description))")
    }

    @Test(arguments: ["0.0.0.0/0", "10.0.0.0/7", "\"::/0\"", "\"2000::/3\"", "\"2000::/11\""])
    func prefixesLargerThanAnyRegistrationAreErrors(cidr: String) throws {
        let diagnostics = try FixtureFleet.validate([FixtureFleet.prefix.replacingOccurrences(of: "198.51.100.0/24", with: cidr)])
        #expect(diagnostics.filter { $0.rule == .prefixSize }.count == 1, "\(diagnostics.map(\.description))")
        #expect(diagnostics.hasErrors)
    }

    @Test(arguments: ["100.0.0.0/8", "\"2000::/12\"", "100.20.30.0/24", "\"2600:1f00::/48\""])
    func theBoundsThemselvesAreAccepted(cidr: String) throws {
        let diagnostics = try FixtureFleet.validate([FixtureFleet.prefix.replacingOccurrences(of: "198.51.100.0/24", with: cidr)])
        #expect(!diagnostics.contains { $0.rule == .prefixSize }, "\(diagnostics.map(\.description))")
    }

    @Test func theBuiltInRangesParse() {
        #expect(AddressSpace.nonPublic.count > 20)
        #expect(AddressSpace.nonPublicRange(overlapping: AddressBlock(network: IPAddress("127.0.0.1")!, length: 32))?.purpose.contains("loopback") == true)
    }

    @Test func aNULInAStringIsAnErrorNotATruncatedBuild() {
        let text = FixtureFleet.instance("a").replacingOccurrences(of: "\"7.3.5 build 9368\"", with: "\"8.\\0garbage\"")
        let diagnostics = FixtureFleet.decode(text).diagnostics
        #expect(diagnostics.map(\.rule) == [.controlCharacter])
        #expect(diagnostics.first?.message == "'build' in Instance spec holds a control character: '8.\\u{0}garbage'")
    }

    @Test func aTabInTheIndentationGetsAHint() {
        let text = "apiVersion: sendpath/v1\nkind: Policy\nmetadata:\n\tname: x\nspec: {}\n"
        let diagnostics = FixtureFleet.decode(text).diagnostics
        #expect(diagnostics.map(\.rule) == [.yamlSyntax])
        #expect(diagnostics.first?.hint == "YAML does not allow tabs for indentation; indent with spaces", "\(diagnostics)")
    }

    @Test(arguments: [
        ("apiVersion: sendpath/v1\nkind: [Policy\n", "close the list with ']'"),
        ("apiVersion: sendpath/v1\nkind: Policy: x\n", "must be quoted"),
        ("apiVersion: sendpath/v1\nkind: @Policy\n", "'@' and '`' cannot start a plain value"),
        ("apiVersion: \"sendpath/v1\nkind: Policy\n", "a quoted value is not closed"),
    ])
    func everySyntaxErrorHasAHint(text: String, hint: String) {
        let diagnostics = FixtureFleet.decode(text).diagnostics
        #expect(diagnostics.map(\.rule) == [.yamlSyntax])
        #expect(diagnostics.first?.hint?.contains(hint) == true, "\(diagnostics)")
    }
}
