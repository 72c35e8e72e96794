import Foundation
import Testing
import SendpathCore
import SendpathSimulator
import SendpathYAML

@Suite("Faults files")
struct FaultFileTests {
    /// Writes `text` to a temporary file and loads it; returns the rules or the problem lines.
    private func load(_ text: String) throws -> (rules: [FaultRule]?, problems: [String], path: String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("faults-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            return (try FleetSimulator.loadFaults(path: path), [], path)
        } catch let error as FaultFileError {
            #expect(error.description == error.diagnostics.map(\.description).joined(separator: "\n"))
            return (nil, error.diagnostics.map { $0.description.replacingOccurrences(of: path, with: "faults.yaml") }, path)
        }
    }

    @Test func effectsThatCannotFireOnTheirStepAreRefused() throws {
        let (rules, problems, _) = try load("""
            - {instance: a, operation: freeze, effect: partial}
            - {instance: a, operation: verify-ips, effect: late}
            - {instance: a, operation: rollback-path, effect: partial}
            - {instance: a, operation: verify-build, effect: arrivals}
            - {instance: a, operation: resend-queue, effect: duplicate}
            """)
        #expect(rules == nil)
        #expect(problems == [
            "faults.yaml:1:28: error: [bad-value] effect 'partial' cannot fire on 'freeze' (it fires on switch-path, rollback-path)",
            "faults.yaml:2:28: error: [bad-value] effect 'late' cannot fire on 'verify-ips' (it fires on prepare-target, freeze, snapshot-queue, switch-path, resend-queue, unfreeze, rollback-path)",
        ])
    }

    @Test func readsAListOfFaultsWithCountDefaultingToOne() throws {
        let (rules, problems, _) = try load("""
            - {instance: acme-prod1, operation: switch-path, effect: change-ips}
            - instance: acme-prod2
              operation: verify-build
              effect: timeout
              count: 3
            """)
        #expect(problems.isEmpty)
        #expect(rules == [
            FaultRule(instance: "acme-prod1", operation: .switchPath, effect: .changeIPs, count: 1),
            FaultRule(instance: "acme-prod2", operation: .verifyBuild, effect: .timeout, count: 3),
        ])
    }

    @Test(arguments: ["", "# no faults today\n", "---\n", "[]\n"])
    func anEmptyFileHasNoFault(_ text: String) throws {
        #expect(try load(text).rules == [])
    }

    @Test func reportsEveryProblemWithItsPositionAndField() throws {
        let (rules, problems, _) = try load("""
            - {instance: a, operation: swich-path, effect: error}
            - {instance: b, operation: freeze, effect: explode}
            - {instance: c, operation: freeze, effect: error, count: 0}
            - {instance: d, operation: freeze, efect: error}
            - {instance: e, operation: freeze, effect: error, count: many}
            """)
        #expect(rules == nil)
        #expect(problems == [
            "faults.yaml:1:28: error: [bad-enum] 'operation' of a fault must be a step name, found 'swich-path' (one of prepare-target, freeze, snapshot-queue, switch-path, verify-ips, verify-build, resend-queue, unfreeze, rollback-path)",
            "faults.yaml:2:44: error: [bad-enum] 'effect' of a fault must be an effect name, found 'explode' (one of error, timeout, change-ips, change-build, partial, late, duplicate, arrivals)",
            "faults.yaml:3:58: error: [bad-value] 'count' of a fault must be at least 1, found 0 (remove the fault instead of giving it no use)",
            "faults.yaml:4:36: error: [unknown-field] unknown field 'efect' in fault (did you mean 'effect'?)",
            "faults.yaml:4:3: error: [missing-field] fault is missing the required field 'effect'",
            "faults.yaml:5:58: error: [wrong-type] 'count' of a fault must be an integer, found a scalar ('many')",
        ])
    }

    @Test func aFileThatIsNotAListIsRefused() throws {
        let problems = try load("instance: a\noperation: freeze\n").problems
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix("faults.yaml:1:1: error: [wrong-type] a faults file must be a list") == true)
    }

    @Test func brokenYAMLIsReportedWithLibyamlsPosition() throws {
        let problems = try load("- {instance: a, operation: freeze, effect: error}\n- instance: b: c\n").problems
        #expect(problems == ["faults.yaml:2:14: error: [yaml-syntax] mapping values are not allowed in this context"])
    }

    @Test func anAliasBombIsRefusedQuickly() throws {
        var text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...8 {
            text += "l\(level): &l\(level) [" + Array(repeating: level == 1 ? "*a" : "*l\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        let problems = try load(text).problems
        #expect(problems.count == 1)
        #expect(problems.first?.contains("[alias-budget]") == true)
    }

    @Test func aMissingFileIsReportedByName() throws {
        #expect(throws: FaultFileError.self) { try FleetSimulator.loadFaults(path: "/nonexistent/faults.yaml") }
    }

    @Test func theTreeKeepsPositionsAndRefusesRepeatedKeys() throws {
        let nodes = try YAMLTree.parse(Array("- {a: 1}\n- b\n".utf8), file: "t.yaml")
        guard case .sequence(let items, _) = try #require(nodes.first), case .mapping(let entries, let at) = items[0] else {
            Issue.record("expected a list holding a mapping")
            return
        }
        #expect(at.description == "t.yaml:1:3")
        #expect(entries.first?.value.scalar?.integer == 1)
        #expect(items[1].location.description == "t.yaml:2:3")
        #expect(throws: YAMLTreeError.self) { try YAMLTree.parse(Array("{a: 1, a: 2}".utf8), file: "t.yaml") }
    }
}
