import Foundation
import Testing
@testable import SendpathCore
@testable import SendpathYAML

/// Cases found while writing the manifest reference; each once misbehaved.
@Suite("Loader regressions")
struct LoaderRegressionTests {
    @Test func twoPrefixesWithTheSameCIDRAreAnOverlapNotACrash() throws {
        let diagnostics = try FixtureFleet.validate([FixtureFleet.prefix, FixtureFleet.prefix.replacingOccurrences(of: "pfx-a", with: "pfx-b"),
                                                     FixtureFleet.wave, FixtureFleet.instance("a")])
        #expect(diagnostics.contains { $0.rule == .prefixOverlap })
    }

    @Test func aFileNamedTwiceOrReachedByALinkIsReadOnce() throws {
        let (result, folder) = try FixtureFleet.load(["fleet.yaml": [FixtureFleet.prefix, FixtureFleet.wave, FixtureFleet.instance("a")].joined(separator: "\n---\n")])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(result.fleet != nil)
        try FileManager.default.createDirectory(atPath: folder + "/sub", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: folder + "/sub/link.yaml", withDestinationPath: folder + "/fleet.yaml")
        try FileManager.default.createSymbolicLink(atPath: folder + "/sub/loop", withDestinationPath: folder)
        let again = ManifestLoader().load(paths: [folder, folder + "/fleet.yaml"])
        // The link back to the root is named as a loop (a warning); nothing is read twice. The
        // fixture's prefix is documentation space: a warning too.
        #expect(again.diagnostics.map(\.rule) == [.nonPublicAddress, .symlinkLoop], "\(again.diagnostics)")
        #expect(again.fleet != nil)
        #expect(again.files == [folder + "/fleet.yaml"])
    }

    @Test func aLinkToAManifestIsRead() throws {
        let (_, folder) = try FixtureFleet.load(["real/fleet.yml": [FixtureFleet.prefix, FixtureFleet.wave, FixtureFleet.instance("a")].joined(separator: "\n---\n")])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder + "/linked", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: folder + "/linked/FLEET.YAML", withDestinationPath: folder + "/real/fleet.yml")
        // Inside the root given: read (once, under its first name).
        let result = ManifestLoader().load(paths: [folder])
        #expect(result.diagnostics.map(\.rule) == [.nonPublicAddress], "\(result.diagnostics)")
        #expect(result.fleet?.instances.count == 1)
        // From a root that does not hold its target: refused (see PathConfinementTests).
        let confined = ManifestLoader().load(paths: [folder + "/linked"])
        #expect(confined.diagnostics.map(\.rule) == [.pathOutsideRoot], "\(confined.diagnostics)")
    }

    @Test func prefixSplitBlamesTheInstanceThatMoved() throws {
        let diagnostics = try FixtureFleet.validate([
            FixtureFleet.prefix, FixtureFleet.wave, FixtureFleet.wave.replacingOccurrences(of: "name: w1", with: "name: w2"),
            FixtureFleet.instance("a", wave: "w2"),
            FixtureFleet.instance("b", ip: "198.51.100.11"),
            FixtureFleet.instance("c", ip: "198.51.100.12"),
        ])
        let split = diagnostics.filter { $0.rule == .prefixSplit }
        #expect(split.count == 1)
        #expect(split.first?.message == "instance 'a' is in wave 'w2' but shares prefix 'pfx-a' with 'b' in wave 'w1'")
    }

    @Test func aTagOnAMappingOrAListItemIsUnsupported() {
        let mapping = FixtureFleet.instance("a").replacingOccurrences(of: "sendingPath: {", with: "sendingPath: !!seq {")
        #expect(FixtureFleet.decode(mapping).diagnostics.map(\.rule) == [.unsupportedTag])
        let item = FixtureFleet.instance("a").replacingOccurrences(of: "[198.51.100.10]", with: "[!!int 198.51.100.10]")
        #expect(FixtureFleet.decode(item).diagnostics.map(\.rule) == [.unsupportedTag])
    }

    @Test func mergeKeysInLabelsAreRefused() {
        let text = FixtureFleet.instance("a").replacingOccurrences(of: "  name: a", with: "  name: a\n  labels: {<<: {team: x}}")
        #expect(FixtureFleet.decode(text).diagnostics.map(\.rule) == [.mergeKey])
    }

    @Test func foldersAreReadInBytewiseOrderOfTheirPaths() throws {
        let names = ["b.yaml", "a.yaml", "A/z.yaml", "a/b.yml", "a/.hidden.yaml", "notes.txt", "c.YAML"]
        var files: [String: String] = [:]
        for (index, name) in names.enumerated() {
            files[name] = FixtureFleet.prefix.replacingOccurrences(of: "pfx-a", with: "pfx-\(index)")
                .replacingOccurrences(of: "198.51.100.0/24", with: "198.51.\(index).0/24")
        }
        let (result, folder) = try FixtureFleet.load(files)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(result.files.map { String($0.dropFirst(folder.count + 1)) } == ["A/z.yaml", "a.yaml", "a/b.yml", "b.yaml", "c.YAML"])
    }
}
