public import SendpathCore
public import SendpathYAML

/// What an injected fault does to the call it fires on.
public enum FaultEffect: String, Sendable, Hashable, Codable, CaseIterable {
    /// Fails the call with a transient error before anything changes.
    case error
    /// Does the call and commits it, then fails with a timeout: the answer was lost.
    case timeout
    /// Does the call, and the instance now sends from a different IP wherever it ends up.
    case changeIPs = "change-ips"
    /// Does the call, and the instance now runs a different build wherever it ends up.
    case changeBuild = "change-build"
    /// switch-path and rollback-path only: moves part of the change (the first half of its
    /// prefixes, rounded up, and of its instances, rounded down, by name), then fails with a
    /// transient error. Nothing is stored under the key: a retry with it does the whole move.
    case partial
    /// Answers `timeout` before doing anything; the effect lands later, at the start of the
    /// next call (any call, observations included), checked against the fencing tokens seen
    /// by then. A retry with the same key while the fault still fires answers `timeout` again;
    /// once it no longer fires, the retry lands the effect and gets its answer.
    case late
    /// The request arrives twice at once (a duplicate with the same key, as a network may
    /// deliver it): both copies run concurrently; the work is done at most once, the other
    /// copy gets the stored answer.
    case duplicate
    /// Mail keeps arriving: after the call, three new messages reach the
    /// instance. While it is frozen they are held in its queue (a snapshot taken later takes
    /// them) and sent once, from where it is then, when it is unfrozen; an instance that is
    /// not frozen sends them at once from where it is.
    case arrivals

    /// The steps this effect can fire on (nil: every step).
    var steps: Set<StepName>? {
        switch self {
        case .error, .timeout, .changeIPs, .changeBuild, .arrivals: nil
        case .partial: [.switchPath, .rollbackPath]
        case .late, .duplicate: Set(StepName.allCases.filter(\.isMutating))
        }
    }
}

/// One injected fault: fires on the next `count` calls of `operation` that touch `instance`.
///
/// `operation` is a step name: mutating calls match on their context's step, observations on
/// the verification step they are made for. Uses already consumed are kept in the fleet file,
/// so a restarted simulator does not fire an exhausted fault again.
public struct FaultRule: Sendable, Hashable, Codable {
    public var instance: String
    public var operation: StepName
    public var effect: FaultEffect
    /// How many calls it fires on (at least 1).
    public var count: Int

    public init(instance: String, operation: StepName, effect: FaultEffect, count: Int = 1) {
        self.instance = instance
        self.operation = operation
        self.effect = effect
        self.count = count
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case instance, operation, effect, count
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        instance = try container.decode(String.self, forKey: .instance)
        operation = try container.decode(StepName.self, forKey: .operation)
        effect = try container.decode(FaultEffect.self, forKey: .effect)
        count = try container.decodeIfPresent(Int.self, forKey: .count) ?? 1
    }

    /// Reads a faults file's documents: one list of `{instance, operation, effect, count}`
    /// mappings (an empty file is no fault). Reports every problem at once.
    public static func parse(_ documents: [YAMLNode]) throws(FaultFileError) -> [FaultRule] {
        let documents = documents.filter { !$0.isNull }
        guard let root = documents.first else { return [] }
        var problems: [Diagnostic] = []
        if documents.count > 1 {
            problems.append(Diagnostic(.wrongType, at: documents[1].location,
                                       "a faults file holds one document, found \(documents.count)",
                                       hint: "put every fault in one list"))
        }
        guard case .sequence(let items, _) = root else {
            problems.append(Diagnostic(.wrongType, at: root.location,
                                       "a faults file must be a list of {instance, operation, effect, count}, found \(root.kindDescription)"))
            throw FaultFileError(diagnostics: problems)
        }
        var rules: [FaultRule] = []
        for item in items {
            if let rule = parseRule(item, problems: &problems) { rules.append(rule) }
        }
        guard problems.isEmpty else { throw FaultFileError(diagnostics: problems) }
        return rules
    }

    private static func parseRule(_ node: YAMLNode, problems: inout [Diagnostic]) -> FaultRule? {
        guard case .mapping(let entries, let location) = node else {
            problems.append(Diagnostic(.wrongType, at: node.location,
                                       "a fault must be a mapping {instance, operation, effect, count}, found \(node.kindDescription)"))
            return nil
        }
        var instance: String?, operation: StepName?, effect: FaultEffect?, count = 1
        var valid = true
        func text(_ field: String, _ value: YAMLNode) -> YAMLScalar? {
            guard let scalar = value.scalar, !scalar.isNull, !scalar.value.isEmpty else {
                problems.append(Diagnostic(.wrongType, at: value.location, "'\(field)' of a fault must be a string, found \(value.kindDescription)"))
                valid = false
                return nil
            }
            return scalar
        }
        for entry in entries {
            let field = entry.key.value
            switch field {
            case "instance":
                instance = text(field, entry.value)?.value
            case "operation":
                guard let scalar = text(field, entry.value) else { continue }
                operation = StepName(rawValue: scalar.value)
                if operation == nil {
                    valid = false
                    problems.append(Diagnostic(.badEnum, at: scalar.location, "'operation' of a fault must be a step name, found '\(scalar.value)'",
                                               hint: "one of " + StepName.allCases.map(\.rawValue).joined(separator: ", ")))
                }
            case "effect":
                guard let scalar = text(field, entry.value) else { continue }
                effect = FaultEffect(rawValue: scalar.value)
                if effect == nil {
                    valid = false
                    problems.append(Diagnostic(.badEnum, at: scalar.location, "'effect' of a fault must be an effect name, found '\(scalar.value)'",
                                               hint: "one of " + FaultEffect.allCases.map(\.rawValue).joined(separator: ", ")))
                }
            case "count":
                guard let scalar = entry.value.scalar, let value = scalar.integer else {
                    valid = false
                    problems.append(Diagnostic(.wrongType, at: entry.value.location, "'count' of a fault must be an integer, found \(entry.value.kindDescription)"))
                    continue
                }
                count = value
                if value < 1 {
                    valid = false
                    problems.append(Diagnostic(.badValue, at: scalar.location, "'count' of a fault must be at least 1, found \(value)",
                                               hint: "remove the fault instead of giving it no use"))
                }
            default:
                valid = false
                let known = CodingKeys.allCases.map(\.rawValue)
                let hint = closest(to: field, in: known).map { "did you mean '\($0)'?" }
                    ?? "a fault has the fields " + known.joined(separator: ", ")
                problems.append(Diagnostic(.unknownField, at: entry.key.location, "unknown field '\(field)' in fault", hint: hint))
            }
        }
        for (field, present) in [("instance", instance != nil), ("operation", operation != nil), ("effect", effect != nil)]
        where !present && !entries.contains(where: { $0.key.value == field }) {
            valid = false
            problems.append(Diagnostic(.missingField, at: location, "fault is missing the required field '\(field)'"))
        }
        guard valid, let instance, let operation, let effect else { return nil }
        if let steps = effect.steps, !steps.contains(operation) {
            let where_ = entries.first { $0.key.value == "operation" }?.value.location ?? location
            problems.append(Diagnostic(.badValue, at: where_, "effect '\(effect.rawValue)' cannot fire on '\(operation.rawValue)'",
                                       hint: "it fires on " + steps.sorted().map(\.rawValue).joined(separator: ", ")))
            return nil
        }
        return FaultRule(instance: instance, operation: operation, effect: effect, count: count)
    }

    /// The known name within two edits of `word`, if any (for "did you mean").
    private static func closest(to word: String, in candidates: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var previous = Array(0...b.count)
            for (i, x) in a.enumerated() {
                var current = [i + 1]
                for (j, y) in b.enumerated() {
                    current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
                }
                previous = current
            }
            return previous[b.count]
        }
        let lowered = Array(word.lowercased())
        return candidates.map { ($0, distance(lowered, Array($0))) }.filter { $0.1 <= 2 }.min { $0.1 < $1.1 }?.0
    }
}

/// Why a faults file was refused: every problem, each with `file:line:column` and the field.
public struct FaultFileError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }

    /// One line per problem, as `validate` prints manifest problems.
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

extension FleetSimulator {
    /// Reads a faults file (a YAML list of `{instance, operation, effect, count}`).
    /// Throws ``FaultFileError`` naming `file:line:column` and the field of every problem.
    public static func loadFaults(path: String) throws -> [FaultRule] {
        do {
            return try FaultRule.parse(YAMLTree.load(path: path))
        } catch let error as YAMLTreeError {
            throw FaultFileError(diagnostics: [error.diagnostic])
        }
    }
}
