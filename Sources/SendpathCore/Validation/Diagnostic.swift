/// One problem found in the manifests: where, which rule, what, and how to fix it.
///
/// Problems are collected, never thrown one at a time, so a single run reports all of them.
public struct Diagnostic: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable, Codable {
        case error
        case warning
    }

    public var severity: Severity
    public var rule: DiagnosticRule
    public var location: SourceLocation
    public var message: String
    public var hint: String?

    public init(_ rule: DiagnosticRule, at location: SourceLocation, _ message: String,
                hint: String? = nil, severity: Severity = .error) {
        self.severity = severity
        self.rule = rule
        self.location = location
        // One diagnostic is one line, in every format: values quoted in it cannot break it.
        self.message = Escaped.line(message)
        self.hint = hint.map(Escaped.line)
    }

    /// The one-line form printed on stderr:
    /// `file:line:column: error: [rule] message (hint)`. The file name is escaped too.
    public var description: String {
        var line = "\(Escaped.line(location.file)):\(location.line):\(location.column): \(severity.rawValue): [\(rule.rawValue)] \(message)"
        if let hint { line += " (\(hint))" }
        return line
    }

    enum CodingKeys: String, CodingKey {
        case file, line, column, severity, rule, message, hint
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(location.file, forKey: .file)
        try container.encode(location.line, forKey: .line)
        try container.encode(location.column, forKey: .column)
        try container.encode(severity, forKey: .severity)
        try container.encode(rule, forKey: .rule)
        try container.encode(message, forKey: .message)
        try container.encode(hint, forKey: .hint)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        location = SourceLocation(
            file: try container.decode(String.self, forKey: .file),
            line: try container.decode(Int.self, forKey: .line),
            column: try container.decode(Int.self, forKey: .column))
        severity = try container.decode(Severity.self, forKey: .severity)
        rule = try container.decode(DiagnosticRule.self, forKey: .rule)
        message = try container.decode(String.self, forKey: .message)
        hint = try container.decodeIfPresent(String.self, forKey: .hint)
    }
}

extension [Diagnostic] {
    /// Whether any diagnostic is an error (warnings alone leave the manifests valid).
    public var hasErrors: Bool { contains { $0.severity == .error } }

    /// In file, line, column order, the order an operator fixes them in.
    public func sortedByLocation() -> [Diagnostic] {
        sorted { ($0.location, $0.rule.rawValue, $0.message) < ($1.location, $1.rule.rawValue, $1.message) }
    }
}
