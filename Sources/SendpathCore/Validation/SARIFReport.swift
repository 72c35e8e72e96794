/// Diagnostics as SARIF 2.1.0, the format code hosts turn into pull-request annotations.
///
/// The log is valid against the OASIS SARIF 2.1.0 schema and carries what GitHub code
/// scanning asks of an uploaded file:
/// - every rule has `shortDescription`, `fullDescription`, `help` (text and Markdown) and `helpUri`;
/// - `run.columnKind` is `unicodeCodePoints`: columns count characters, as libyaml does;
/// - each result has a region with `startLine`/`startColumn`/`endLine`/`endColumn` (one
///   character: a diagnostic points at the start of the offending node) and a stable
///   `partialFingerprints["sendpath/v1"]`: a hash of the rule id, the file's URI and the
///   message with any `:line:column` in it removed, so moving a problem to another line does
///   not make it a new alert, plus `:N` for the Nth identical problem in the same file;
/// - file URIs are relative to the `%SRCROOT%` base (the directory `validate` ran in, given
///   as an absolute `file://` URI ending in `/` in `run.originalUriBaseIds`), with `.` and `..`
///   resolved and every byte but RFC 3986's unreserved characters and `/` percent-encoded. A
///   file outside that directory cannot be mapped to the repository: it gets an absolute
///   `file://` URI and no `uriBaseId`.
public enum SARIFReport {
    /// The `uriBaseId` every repository-relative URI is resolved against.
    public static let sourceRoot = "%SRCROOT%"
    /// The key of Sendpath's own fingerprint in `partialFingerprints`. GitHub's upload action
    /// computes `primaryLocationLineHash` itself and warns when a tool sends a different one.
    public static let fingerprintKey = "sendpath/v1"

    /// - Parameter baseDirectory: the absolute path of the directory `validate` ran in; relative
    ///   diagnostic paths are taken relative to it.
    public static func make(_ diagnostics: [Diagnostic], toolVersion: String, baseDirectory: String) -> JSONValue {
        let base = segments(of: baseDirectory, under: [])
        let rules = DiagnosticRule.allCases.map { rule -> JSONValue in
            let helpURI = "https://github.com/sendpath/sendpath/blob/main/docs/manifests.md#\(rule.rawValue)"
            let summary = sentence(rule.summary)
            return [
                "id": .string(rule.rawValue),
                "name": .string(name(of: rule)),
                "shortDescription": ["text": .string(rule.summary)],
                "fullDescription": ["text": .string("\(summary) Reported by `sendpath validate` as rule \(rule.rawValue), "
                                                    + "at the file, line and column of the offending value.")],
                "help": [
                    "text": .string("\(summary) The message names the field and the value found; the hint in parentheses, "
                                    + "when there is one, says how to fix it. Rule reference: \(helpURI)"),
                    "markdown": .string("**\(rule.rawValue)**: \(summary)\n\nThe message names the field and the value found; "
                                        + "the hint in parentheses, when there is one, says how to fix it. "
                                        + "See [the rule reference](\(helpURI))."),
                ],
                "helpUri": .string(helpURI),
            ]
        }
        let ruleIndex = Dictionary(uniqueKeysWithValues: DiagnosticRule.allCases.enumerated().map { ($1, $0) })
        var occurrences: [String: Int] = [:]
        let results = diagnostics.map { diagnostic -> JSONValue in
            var text = diagnostic.message
            if let hint = diagnostic.hint { text += " (\(hint))" }
            let place = artifactLocation(diagnostic.location.file, base: base)
            let identity = fingerprint(rule: diagnostic.rule, uri: place.uri, message: diagnostic.message)
            let occurrence = (occurrences[identity] ?? 0) + 1
            occurrences[identity] = occurrence
            var artifact: [JSONValue.Member] = [.init("uri", .string(place.uri))]
            if place.relative { artifact.append(.init("uriBaseId", .string(sourceRoot))) }
            var physical: [JSONValue.Member] = [.init("artifactLocation", .object(artifact))]
            let line = diagnostic.location.line
            if line >= 1 {
                let column = max(1, diagnostic.location.column)
                physical.append(.init("region", ["startLine": .integer(line), "startColumn": .integer(column),
                                                 "endLine": .integer(line), "endColumn": .integer(column + 1)]))
            }
            return [
                "ruleId": .string(diagnostic.rule.rawValue),
                "ruleIndex": .integer(ruleIndex[diagnostic.rule]!),
                "level": .string(diagnostic.severity == .error ? "error" : "warning"),
                "message": ["text": .string(text)],
                "locations": [["physicalLocation": .object(physical)]],
                "partialFingerprints": .object([.init(fingerprintKey, .string("\(identity):\(occurrence)"))]),
            ]
        }
        return [
            "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
            "version": "2.1.0",
            "runs": [[
                "tool": ["driver": [
                    "name": "sendpath",
                    "version": .string(toolVersion),
                    "informationUri": "https://github.com/sendpath/sendpath",
                    "rules": .array(rules),
                ]],
                "originalUriBaseIds": .object([.init(sourceRoot, ["uri": .string(fileURI(base, directory: true))])]),
                "columnKind": "unicodeCodePoints",
                "results": .array(results),
            ]],
        ]
    }

    /// The URI of a diagnostic's file: relative to `%SRCROOT%` when inside `base`, else absolute.
    static func artifactLocation(_ path: String, base: [String]) -> (uri: String, relative: Bool) {
        let target = segments(of: path, under: base)
        if target.count > base.count, Array(target.prefix(base.count)) == base {
            return (target.dropFirst(base.count).map(percentEncoded).joined(separator: "/"), true)
        }
        if target == base { return ("./", true) }
        return (fileURI(target, directory: false), false)
    }

    /// The segments of an absolute path, `.` and `..` resolved lexically (a relative path is
    /// taken under `base`). Symbolic links are not followed: the URI names the path as found.
    static func segments(of path: String, under base: [String]) -> [String] {
        var out = path.hasPrefix("/") ? [] : base
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": if !out.isEmpty { out.removeLast() }
            default: out.append(String(part))
            }
        }
        return out
    }

    static func fileURI(_ segments: [String], directory: Bool) -> String {
        let path = segments.map(percentEncoded).joined(separator: "/")
        if segments.isEmpty { return "file:///" }
        return "file:///" + path + (directory ? "/" : "")
    }

    /// RFC 3986: every byte of the UTF-8 form but the unreserved characters as `%XX`.
    static func percentEncoded(_ segment: String) -> String {
        var out = ""
        for byte in segment.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out += "%"
                out.unicodeScalars.append(hex[Int(byte >> 4)])
                out.unicodeScalars.append(hex[Int(byte & 0xF)])
            }
        }
        return out
    }

    /// A 64-bit FNV-1a hash, in hex, of what identifies a problem independently of where its
    /// line moved: the rule, the file and the message with `:line:column` references removed.
    static func fingerprint(rule: DiagnosticRule, uri: String, message: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in (rule.rawValue + "\u{0}" + uri + "\u{0}" + withoutPositions(message)).utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// `a.yaml:12:3` becomes `a.yaml`, so a reference to another line does not change the hash.
    static func withoutPositions(_ text: String) -> String {
        var out: [Character] = []
        let characters = Array(text)
        var index = 0
        /// The index after one or more ASCII digits starting at `start`, if any.
        func digits(from start: Int) -> Int? {
            var end = start
            while end < characters.count, characters[end].isASCII, characters[end].isNumber { end += 1 }
            return end > start ? end : nil
        }
        while index < characters.count {
            if characters[index] == ":", let line = digits(from: index + 1), line < characters.count,
               characters[line] == ":", let column = digits(from: line + 1) {
                index = column
                continue
            }
            out.append(characters[index])
            index += 1
        }
        return String(out)
    }

    /// `unknown-field` → `UnknownField`, the rule's SARIF `name`.
    static func name(of rule: DiagnosticRule) -> String {
        rule.rawValue.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    /// A summary as a sentence: capital first letter, final period.
    static func sentence(_ summary: String) -> String {
        guard let first = summary.first else { return summary }
        return first.uppercased() + summary.dropFirst() + (summary.hasSuffix(".") ? "" : ".")
    }
}
