/// Diagnostics as SARIF 2.1.0, the format code hosts turn into pull-request annotations.
public enum SARIFReport {
    public static func make(_ diagnostics: [Diagnostic], toolVersion: String) -> JSONValue {
        let rules = DiagnosticRule.allCases.map { rule -> JSONValue in
            [
                "id": .string(rule.rawValue),
                "shortDescription": ["text": .string(rule.summary)],
                "helpUri": .string("https://github.com/sendpath/sendpath/blob/main/docs/manifests.md#\(rule.rawValue)"),
            ]
        }
        let ruleIndex = Dictionary(uniqueKeysWithValues: DiagnosticRule.allCases.enumerated().map { ($1, $0) })
        let results = diagnostics.map { diagnostic -> JSONValue in
            var text = diagnostic.message
            if let hint = diagnostic.hint { text += " (\(hint))" }
            return [
                "ruleId": .string(diagnostic.rule.rawValue),
                "ruleIndex": .integer(ruleIndex[diagnostic.rule]!),
                "level": .string(diagnostic.severity == .error ? "error" : "warning"),
                "message": ["text": .string(text)],
                "locations": [[
                    "physicalLocation": [
                        "artifactLocation": ["uri": .string(uri(diagnostic.location.file))],
                        "region": ["startLine": .integer(diagnostic.location.line),
                                   "startColumn": .integer(diagnostic.location.column)],
                    ],
                ]],
            ]
        }
        return [
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [[
                "tool": ["driver": [
                    "name": "sendpath",
                    "version": .string(toolVersion),
                    "informationUri": "https://github.com/sendpath/sendpath",
                    "rules": .array(rules),
                ]],
                "results": .array(results),
            ]],
        ]
    }

    /// A relative URI for a path: no leading "./", spaces and '%' escaped.
    static func uri(_ path: String) -> String {
        var path = path
        while path.hasPrefix("./") { path.removeFirst(2) }
        var out = ""
        for scalar in path.unicodeScalars {
            switch scalar {
            case " ": out += "%20"
            case "%": out += "%25"
            case "#": out += "%23"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
