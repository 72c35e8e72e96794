import Foundation
import Testing
@testable import SendpathCore
@testable import SendpathYAML

/// Manifest discovery never leaves the roots it was given (docs/manifests.md, "Which files
/// are read"): links out of a root are refused unread, loops are named, the walk is bounded.
@Suite("Path confinement")
struct PathConfinementTests {
    /// A root folder with a valid fleet, and a folder beside it (outside the root) holding a
    /// secret whose unique token must never appear in any output.
    struct Layout {
        let base: String
        let root: String
        let outside: String
        let token = "TOKEN-\(UUID().uuidString)"

        init() throws {
            base = FileManager.default.temporaryDirectory.appendingPathComponent("sendpath-confine-\(UUID().uuidString)").path
            root = base + "/manifests"
            outside = base + "/outside"
            for folder in [root, outside] { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
            try [FixtureFleet.prefix, FixtureFleet.wave, FixtureFleet.instance("a")].joined(separator: "\n---\n")
                .write(toFile: root + "/fleet.yaml", atomically: true, encoding: .utf8)
            // YAML whose every diagnostic would quote the token.
            try "\(token): \(token)\n".write(toFile: outside + "/secret.yaml", atomically: true, encoding: .utf8)
            try "\(token)\n".write(toFile: outside + "/secret.txt", atomically: true, encoding: .utf8)
        }

        func link(_ name: String, to target: String) throws {
            try FileManager.default.createSymbolicLink(atPath: root + "/" + name, withDestinationPath: target)
        }

        func remove() { try? FileManager.default.removeItem(atPath: base) }
    }

    /// The diagnostics about paths: the fixture's documentation-range prefix always adds a
    /// `non-public-address` warning, which is not what these tests look at.
    static func relevant(_ result: ManifestLoadResult) -> [Diagnostic] {
        result.diagnostics.filter { $0.rule != .nonPublicAddress }
    }

    static func everything(_ result: ManifestLoadResult) -> String {
        result.diagnostics.map { $0.description }.joined(separator: "\n")
    }

    @Test func linksToFilesOutsideTheRootAreRefusedUnread() throws {
        let layout = try Layout()
        defer { layout.remove() }
        try layout.link("x.yaml", to: "/etc/passwd")
        try layout.link("secret.yaml", to: layout.outside + "/secret.txt")
        try layout.link("relative.yml", to: "../outside/secret.yaml")
        let result = ManifestLoader().load(paths: [layout.root])
        let refused = Self.relevant(result).filter { $0.rule == .pathOutsideRoot }
        #expect(Set(refused.map(\.location.file)) == [layout.root + "/x.yaml", layout.root + "/secret.yaml", layout.root + "/relative.yml"],
                "\(Self.everything(result))")
        #expect(refused.allSatisfy { $0.severity == .error && $0.location.line == 1 && $0.location.column == 1 })
        #expect(!Self.everything(result).contains(layout.token))
        #expect(!Self.everything(result).contains("root:"))
        #expect(result.files == [layout.root + "/fleet.yaml"])
        #expect(result.fleet == nil)
    }

    @Test func aFolderLinkOutsideTheRootIsRefusedUnlisted() throws {
        let layout = try Layout()
        defer { layout.remove() }
        try layout.link("more", to: layout.outside)
        let result = ManifestLoader().load(paths: [layout.root])
        #expect(Self.relevant(result).map(\.rule) == [.pathOutsideRoot], "\(Self.everything(result))")
        #expect(Self.relevant(result).first?.message.contains("folder outside") == true)
        #expect(!Self.everything(result).contains(layout.token))
        #expect(!Self.everything(result).contains("secret"))
    }

    /// A folder that cannot be listed (root lists every folder, so the listing is faked) is an
    /// error naming it: its manifests would otherwise be missed in silence.
    @Test func aFolderThatCannotBeListedIsAnError() throws {
        let layout = try Layout()
        defer { layout.remove() }
        try FileManager.default.createDirectory(atPath: layout.root + "/locked", withIntermediateDirectories: true)
        try FixtureFleet.instance("b").write(toFile: layout.root + "/locked/b.yaml", atomically: true, encoding: .utf8)
        let locked = ManifestDiscovery.resolve(layout.root + "/locked")!
        var discovery = ManifestDiscovery(maxDepth: 32, maxEntries: 1000)
        discovery.listFolder = { folder in
            folder == locked ? .failure(.init(reason: "Permission denied")) : ManifestDiscovery.list(folder)
        }
        discovery.discover([layout.root])
        #expect(discovery.refusedAny)
        #expect(discovery.files.map(\.display) == [layout.root + "/fleet.yaml"])
        let diagnostic = try #require(discovery.diagnostics.first)
        #expect(discovery.diagnostics.count == 1)
        #expect(diagnostic.rule == .fileUnreadable && diagnostic.severity == .error)
        #expect(diagnostic.location.file == layout.root + "/locked")
        #expect(diagnostic.message == "cannot read folder '\(layout.root)/locked': Permission denied; nothing in it was read")
    }

    @Test func aLinkToTheFilesystemRootIsRefusedAtOnce() throws {
        let layout = try Layout()
        defer { layout.remove() }
        try layout.link("everything", to: "/")
        let clock = ContinuousClock()
        let start = clock.now
        let result = ManifestLoader().load(paths: [layout.root])
        #expect(clock.now - start < .seconds(5))
        #expect(Self.relevant(result).map(\.rule) == [.pathOutsideRoot], "\(Self.everything(result))")
        #expect(result.files.count == 1)
    }

    @Test func linksThatStayInsideTheRootAreFollowed() throws {
        let layout = try Layout()
        defer { layout.remove() }
        try FileManager.default.createDirectory(atPath: layout.root + "/real", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: layout.root + "/fleet.yaml", toPath: layout.root + "/real/fleet.yaml")
        try FileManager.default.createDirectory(atPath: layout.root + "/linked", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: layout.root + "/linked/FLEET.YAML", withDestinationPath: "../real/fleet.yaml")
        try layout.link("alias", to: layout.root + "/real")
        let result = ManifestLoader().load(paths: [layout.root])
        #expect(Self.relevant(result).isEmpty, "\(Self.everything(result))")
        // Reached three ways, read once, under the first name in sorted order.
        #expect(result.files == [layout.root + "/alias/fleet.yaml"])
        #expect(result.fleet?.instances.count == 1)
    }

    @Test func aRootNamedOnTheCommandLineIsTrustedButWhatIsUnderItIsConfined() throws {
        let layout = try Layout()
        defer { layout.remove() }
        // The root itself is a link: followed. Under it, a link to the root's sibling is not.
        try FileManager.default.createSymbolicLink(atPath: layout.base + "/via-link", withDestinationPath: layout.root)
        try layout.link("escape.yaml", to: layout.outside + "/secret.yaml")
        let result = ManifestLoader().load(paths: [layout.base + "/via-link"])
        #expect(Self.relevant(result).map(\.rule) == [.pathOutsideRoot], "\(Self.everything(result))")
        #expect(result.files == [layout.base + "/via-link/fleet.yaml"])
        #expect(!Self.everything(result).contains(layout.token))
        // A file named on the command line is read as given, even through a link.
        try FileManager.default.createSymbolicLink(atPath: layout.base + "/named.yaml", withDestinationPath: layout.root + "/fleet.yaml")
        let named = ManifestLoader().load(paths: [layout.base + "/named.yaml"])
        #expect(Self.relevant(named).isEmpty, "\(Self.everything(named))")
    }

    @Test func aRootNamedTwiceOrInsideAnotherIsReadOnceWithoutComplaint() throws {
        let layout = try Layout()
        defer { layout.remove() }
        try FileManager.default.createDirectory(atPath: layout.root + "/sub", withIntermediateDirectories: true)
        try FixtureFleet.wave.replacingOccurrences(of: "name: w1", with: "name: w2").write(toFile: layout.root + "/sub/w2.yaml", atomically: true, encoding: .utf8)
        let result = ManifestLoader().load(paths: [layout.root, layout.root + "/", layout.root + "/sub"])
        #expect(Self.relevant(result).isEmpty, "\(Self.everything(result))")
        #expect(result.files == [layout.root + "/fleet.yaml", layout.root + "/sub/w2.yaml"])
    }

    @Test func anEmptyFolderIsReportedEvenWhenAnotherRootHadARefusal() throws {
        let layout = try Layout()
        defer { layout.remove() }
        try layout.link("x.yaml", to: "/etc/passwd")
        let empty = layout.base + "/empty"
        try FileManager.default.createDirectory(atPath: empty + "/sub", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: empty + "/sub/up", withDestinationPath: "..")
        let result = ManifestLoader().load(paths: [layout.root, empty])
        #expect(Self.relevant(result).map(\.rule) == [.noManifests, .symlinkLoop, .pathOutsideRoot], "\(Self.everything(result))")
    }

    @Test func aLinkThatLoopsHasItsOwnDiagnostic() throws {
        let layout = try Layout()
        defer { layout.remove() }
        try layout.link("a.yaml", to: layout.root + "/b.yaml")
        try layout.link("b.yaml", to: layout.root + "/a.yaml")
        try layout.link("self.yaml", to: "self.yaml")
        let result = ManifestLoader().load(paths: [layout.root])
        let loops = Self.relevant(result).filter { $0.rule == .symlinkLoop }
        #expect(loops.count == 3, "\(Self.everything(result))")
        #expect(loops.allSatisfy { $0.message.contains("loops") && $0.severity == .error })
        #expect(!Self.relevant(result).contains { $0.message.contains("not a regular file") })
    }

    @Test func aFolderLinkBackToAnAncestorIsAWarningAndReadOnce() throws {
        let layout = try Layout()
        defer { layout.remove() }
        try FileManager.default.createDirectory(atPath: layout.root + "/sub", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: layout.root + "/sub/up", withDestinationPath: "..")
        let result = ManifestLoader().load(paths: [layout.root])
        #expect(Self.relevant(result).map(\.rule) == [.symlinkLoop], "\(Self.everything(result))")
        #expect(Self.relevant(result).first?.severity == .warning)
        #expect(result.files == [layout.root + "/fleet.yaml"])
        #expect(result.fleet != nil)
    }

    @Test func theWalkIsBoundedInDepth() throws {
        let layout = try Layout()
        defer { layout.remove() }
        var deep = layout.root
        for level in 0..<8 { deep += "/d\(level)" }
        try FileManager.default.createDirectory(atPath: deep, withIntermediateDirectories: true)
        try FixtureFleet.prefix.replacingOccurrences(of: "pfx-a", with: "pfx-deep").replacingOccurrences(of: "198.51.100.0", with: "198.51.101.0")
            .write(toFile: deep + "/deep.yaml", atomically: true, encoding: .utf8)
        let result = ManifestLoader(maxDepth: 4).load(paths: [layout.root])
        #expect(Self.relevant(result).map(\.rule) == [.walkLimit], "\(Self.everything(result))")
        #expect(Self.relevant(result).first?.message.contains("more than 4 folders below") == true)
        #expect(result.fleet == nil)
        #expect(Self.relevant(ManifestLoader().load(paths: [layout.root])).map(\.rule) == [.unusedPrefix])
    }

    @Test func theWalkIsBoundedInEntries() throws {
        let layout = try Layout()
        defer { layout.remove() }
        for index in 0..<30 { try "# empty\n".write(toFile: layout.root + "/n\(index).txt", atomically: true, encoding: .utf8) }
        let result = ManifestLoader(maxEntries: 20).load(paths: [layout.root])
        #expect(Self.relevant(result).map(\.rule) == [.walkLimit], "\(Self.everything(result))")
        #expect(Self.relevant(result).first?.message.contains("more than 20 files and folders") == true)
    }

    @Test func aFIFONamedLikeAManifestIsRefusedWithoutBlocking() throws {
        let layout = try Layout()
        defer { layout.remove() }
        #expect(mkfifo(layout.root + "/pipe.yaml", 0o600) == 0)
        let result = ManifestLoader().load(paths: [layout.root])
        #expect(Self.relevant(result).map(\.rule) == [.fileUnreadable], "\(Self.everything(result))")
        #expect(Self.relevant(result).first?.message.contains("not a regular file") == true)
    }
}
