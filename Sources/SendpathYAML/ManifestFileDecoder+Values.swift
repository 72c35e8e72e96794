import SendpathCore

/// Typed readers: each consumes exactly one value node, reports what is wrong with it,
/// and returns `nil` when it could not be decoded.
extension ManifestFileDecoder {
    static let stringTag = "tag:yaml.org,2002:str"

    func location(of event: YAMLEvent) -> SourceLocation {
        SourceLocation(file: file, line: event.line, column: event.column)
    }

    func report(_ rule: DiagnosticRule, at event: YAMLEvent, _ message: String, hint: String? = nil) {
        diagnosticsAppend(Diagnostic(rule, at: location(of: event), message, hint: hint))
    }

    func report(_ rule: DiagnosticRule, line: Int, column: Int, _ message: String, hint: String? = nil) {
        diagnosticsAppend(Diagnostic(rule, at: SourceLocation(file: file, line: line, column: column), message, hint: hint))
    }

    func describe(_ event: YAMLEvent) -> String {
        switch event.kind {
        case .mappingStart: return "a mapping"
        case .sequenceStart: return "a list"
        case .scalar where event.isNull: return "null"
        case .scalar:
            let text = event.string
            return "'\(Escaped.escape(text, limit: 40))'"
        default: return "nothing"
        }
    }

    /// Consumes the rest of a node whose first event has been read.
    func skip(_ first: YAMLEvent) throws(YAMLReadError) {
        guard first.kind == .mappingStart || first.kind == .sequenceStart else { return }
        var open = 1
        while open > 0 {
            let event = try reader.next()
            switch event.kind {
            case .mappingStart, .sequenceStart: open += 1
            case .mappingEnd, .sequenceEnd: open -= 1
            case .documentEnd, .streamEnd: return
            default: break
            }
        }
    }

    /// Walks a mapping's keys against a schema. Unknown, duplicate and merge keys are reported
    /// and their values skipped; `handle` reads each known field's value. Returns whether every
    /// required field was present.
    func forEachField(of table: FieldTable, opening: YAMLEvent,
                      _ handle: (String, YAMLEvent) throws(YAMLReadError) -> Void) throws(YAMLReadError) -> Bool {
        var seen: UInt64 = 0
        return try withUnsafeTemporaryAllocation(of: Int.self, capacity: table.names.count) { (seenLines) throws(YAMLReadError) -> Bool in
            while true {
                let key = try reader.next()
                if key.kind == .mappingEnd { break }
                guard key.kind == .scalar, !key.isNull else {
                    report(.wrongType, at: key, "keys in \(table.schema.title) must be field names, found \(describe(key))")
                    try skip(key)
                    try skip(try reader.next())
                    continue
                }
                if key.plain && key.value.count == 2 && key.value[0] == 0x3C && key.value[1] == 0x3C {
                    report(.mergeKey, at: key, "merge keys (<<) are not supported in \(table.schema.title)",
                           hint: "write the fields out, or use an alias (*name) for a whole value")
                    try skip(try reader.next())
                    continue
                }
                guard let index = table.index(of: key.value) else {
                    let name = key.string
                    let schema = table.schema
                    let hint = schema.suggestion(for: name).map { "did you mean '\($0)'?" }
                        ?? "known fields: \(schema.fields.map(\.name).joined(separator: ", "))"
                    report(.unknownField, at: key, "unknown field '\(Escaped.value(name))' in \(schema.title)", hint: hint)
                    try skip(try reader.next())
                    continue
                }
                let bit: UInt64 = 1 << UInt64(index)
                if seen & bit != 0 {
                    let schema = table.schema
                    report(.duplicateKey, at: key, "duplicate key '\(schema.fields[index].name)' in \(schema.title)",
                           hint: "the first is at line \(seenLines[index]); keep one")
                    try skip(try reader.next())
                    continue
                }
                seen |= bit
                seenLines[index] = key.line
                try handle(table.fieldNames[index], key)
            }
            guard seen & table.requiredMask != table.requiredMask else { return true }
            let schema = table.schema
            for (index, field) in schema.fields.enumerated() where field.required && seen & (1 << UInt64(index)) == 0 {
                report(.missingField, at: opening, "missing required field '\(field.name)' in \(schema.title)",
                       hint: field.summary)
            }
            return false
        }
    }

    /// Reads a mapping's opening event, or reports the wrong type and skips the value.
    func readMapping(_ field: String, in schema: ObjectSchema) throws(YAMLReadError) -> YAMLEvent? {
        let event = try reader.next()
        if event.kind == .mappingStart {
            if acceptsTag(event, "tag:yaml.org,2002:map") { return event }
            report(.unsupportedTag, at: event, "tag '\(Escaped.value(String(decoding: event.tag!, as: UTF8.self)))' does not fit '\(field)' in \(schema.title), which is a mapping",
                   hint: "remove the tag")
        } else {
            report(.wrongType, at: event, "'\(field)' in \(schema.title) must be a mapping, found \(describe(event))")
        }
        try skip(event)
        return nil
    }

    /// Reads a non-null scalar, or reports the wrong type and skips the value.
    func readScalar(_ field: String, in schema: ObjectSchema, _ type: FieldType) throws(YAMLReadError) -> YAMLEvent? {
        let event = try reader.next()
        return try scalar(event, field: field, in: schema, type)
    }

    func scalar(_ event: YAMLEvent, field: String, in schema: ObjectSchema, _ type: FieldType) throws(YAMLReadError) -> YAMLEvent? {
        guard event.kind == .scalar, !event.isNull else {
            report(.wrongType, at: event, "'\(field)' in \(schema.title) must be \(type.noun), found \(describe(event))",
                   hint: event.kind == .sequenceStart && type.noun == "a string" ? "give one value, not a list" : nil)
            try skip(event)
            return nil
        }
        let expectedTag = if case .integer = type { "tag:yaml.org,2002:int" } else { Self.stringTag }
        let fits = if case .failureBudget = type {
            acceptsTag(event, expectedTag) || acceptsTag(event, "tag:yaml.org,2002:int")
        } else {
            acceptsTag(event, expectedTag)
        }
        guard fits else {
            report(.unsupportedTag, at: event, "tag '\(Escaped.value(String(decoding: event.tag!, as: UTF8.self)))' does not fit '\(field)' in \(schema.title), which is \(type.noun)",
                   hint: "remove the tag")
            return nil
        }
        return event
    }

    /// Reports a tag on a string scalar that is not a string tag.
    func elementTagFits(_ event: YAMLEvent, field: String) -> Bool {
        guard !acceptsTag(event, Self.stringTag) else { return true }
        report(.unsupportedTag, at: event, "tag '\(Escaped.value(String(decoding: event.tag!, as: UTF8.self)))' does not fit '\(field)', which holds strings",
               hint: "remove the tag")
        return false
    }

    /// No tag, the non-specific `!`, or the core tag of the expected type.
    func acceptsTag(_ event: YAMLEvent, _ expected: String) -> Bool {
        guard let tag = event.tag else { return true }
        return tag.elementsEqual("!".utf8) || tag.elementsEqual(expected.utf8)
    }

    func readString(_ field: String, in schema: ObjectSchema) throws(YAMLReadError) -> Located<String>? {
        guard let event = try readScalar(field, in: schema, .string) else { return nil }
        guard event.value.count > 0 else {
            report(.badValue, at: event, "'\(field)' in \(schema.title) must not be empty")
            return nil
        }
        guard !Escaped.containsControl(utf8: event.value) else {
            reportControl(at: event, "'\(field)' in \(schema.title)", event.string)
            return nil
        }
        return Located(event.string, at: location(of: event))
    }

    /// A string holding a control character (a NUL would be cut by C code, a newline or ESC
    /// would reach logs and terminals): an error, with the value escaped.
    func reportControl(at event: YAMLEvent, _ what: String, _ text: String) {
        report(.controlCharacter, at: event, "\(what) holds a control character: '\(Escaped.value(text))'",
               hint: "remove it: manifest strings are one line of printable text")
    }

    func readEnum<Value: ManifestEnumeration>(_ field: String, in schema: ObjectSchema, _ type: Value.Type)
        throws(YAMLReadError) -> Value? {
        guard let event = try readScalar(field, in: schema, .string) else { return nil }
        if let value = Value.byteTable.match(event.value) { return value }
        let allowed = Value.allCases.map(\.rawValue)
        let found = event.string
        var hint = Spelling.closest(to: found, among: allowed).map { "did you mean '\($0)'?" }
        if event.plain, ["yes", "no", "on", "off", "true", "false", "y", "n"].contains(found.lowercased()) {
            hint = "YAML 1.1 booleans are not read here: write one of the values"
        }
        report(.badEnum, at: event, "'\(field)' in \(schema.title) must be one of \(allowed.joined(separator: ", ")); found '\(Escaped.value(found))'",
               hint: hint)
        return nil
    }

    func readName(_ field: String, in schema: ObjectSchema) throws(YAMLReadError) -> Located<String>? {
        guard let event = try readScalar(field, in: schema, .name) else { return nil }
        return name(event, field: field)
    }

    func name(_ event: YAMLEvent, field: String) -> Located<String>? {
        guard event.kind == .scalar, !event.isNull else {
            report(.wrongType, at: event, "'\(field)' must list names, found \(describe(event))")
            return nil
        }
        guard elementTagFits(event, field: field) else { return nil }
        guard DNSLabel.isValid(event.value) else {
            let text = event.string
            let suggestion = DNSLabel.suggestion(for: text)
            report(.badName, at: event, "'\(field)' must be a DNS label (lowercase letters, digits and '-', at most 63), found '\(Escaped.value(text))'",
                   hint: suggestion.isEmpty || suggestion == text ? nil : "did you mean '\(suggestion)'?")
            return nil
        }
        return Located(event.string, at: location(of: event))
    }

    func readInteger(_ field: String, in schema: ObjectSchema, minimum: Int, maximum: Int) throws(YAMLReadError) -> Int? {
        guard let event = try readScalar(field, in: schema, .integer(minimum: minimum, maximum: maximum)) else { return nil }
        let text = event.string
        let range = "an integer from \(minimum) to \(maximum)"
        guard event.plain || event.tag != nil, let value = Int(text) else {
            // A number too large for an integer, or written as a whole float (1e23), is out of
            // range, not of the wrong type.
            if event.plain || event.tag != nil, let whole = Self.wholeNumber(text), whole > Double(maximum) || whole < Double(minimum) {
                report(.valueOutOfRange, at: event, "'\(field)' in \(schema.title) is out of range: it must be \(range), found '\(Escaped.value(text))'")
                return nil
            }
            report(.wrongType, at: event, "'\(field)' in \(schema.title) must be \(range), found '\(Escaped.value(text))'",
                   hint: event.plain ? nil : "write the number without quotes")
            return nil
        }
        guard value >= minimum else {
            report(.badValue, at: event, "'\(field)' in \(schema.title) must be at least \(minimum), found \(value)")
            return nil
        }
        guard value <= maximum else {
            report(.valueOutOfRange, at: event, "'\(field)' in \(schema.title) is out of range: it must be \(range), found \(value)")
            return nil
        }
        return value
    }

    /// A failure budget: a plain integer from 1 to 10000, or a percentage from 1% to 100%.
    func readFailureBudget(_ field: String, in schema: ObjectSchema) throws(YAMLReadError) -> FailureBudget? {
        guard let event = try readScalar(field, in: schema, .failureBudget) else { return nil }
        let text = event.string
        if text.hasSuffix("%"), let percent = Int(text.dropLast()), text.dropLast().allSatisfy(\.isASCII) {
            guard (1...100).contains(percent) else {
                report(.valueOutOfRange, at: event, "'\(field)' in \(schema.title) is out of range: a percentage must be from 1% to 100%, found '\(Escaped.value(text))'")
                return nil
            }
            return .percent(percent)
        }
        if event.plain || event.tag != nil, let count = Int(text), text.allSatisfy(\.isASCII) {
            guard (1...10_000).contains(count) else {
                report(.valueOutOfRange, at: event, "'\(field)' in \(schema.title) is out of range: a count must be from 1 to 10000, found \(count)")
                return nil
            }
            return .count(count)
        }
        report(.badValue, at: event, "'\(field)' in \(schema.title) must be a count or a percentage, found '\(Escaped.value(text))'",
               hint: "for example 2 or 10%")
        return nil
    }

    /// The value of a whole number written with more digits than an `Int` holds, or as a
    /// float with an exponent (`1e23`); `nil` for anything else.
    static func wholeNumber(_ text: String) -> Double? {
        let unsigned = text.first == "-" || text.first == "+" ? text.dropFirst() : Substring(text)
        guard !unsigned.isEmpty, let value = Double(text), !value.isNaN else { return nil }
        if unsigned.allSatisfy({ $0.isASCII && $0.isNumber }) { return value }
        guard unsigned.contains(where: { $0 == "e" || $0 == "E" }) else { return nil }
        return value.isInfinite || value.rounded() == value ? value : nil
    }

    func readDuration(_ field: String, in schema: ObjectSchema) throws(YAMLReadError) -> Duration? {
        guard let event = try readScalar(field, in: schema, .duration) else { return nil }
        let text = event.string
        switch ManifestDuration.parseChecked(text) {
        case .duration(let value):
            return value
        case .tooLarge:
            report(.valueOutOfRange, at: event, "'\(field)' in \(schema.title) is out of range: '\(Escaped.value(text))' is longer than \(ManifestDuration.format(ManifestDuration.maximum))",
                   hint: "durations must be \(ManifestDuration.rangeDescription)")
        case .malformed:
            report(.badDuration, at: event, "'\(field)' in \(schema.title) is not a duration: '\(Escaped.value(text))'",
                   hint: "write it like 90s, 15m, 4h, 7d or 1h30m")
        }
        return nil
    }

    func readTime(_ field: String, in schema: ObjectSchema) throws(YAMLReadError) -> Located<Timestamp>? {
        guard let event = try readScalar(field, in: schema, .time) else { return nil }
        let text = event.string
        switch Timestamp.parse(rfc3339: text) {
        case .time(let value):
            return Located(value, at: location(of: event))
        case .outOfRange:
            report(.valueOutOfRange, at: event, "'\(field)' in \(schema.title) is out of range: '\(Escaped.value(text))'",
                   hint: "times must be \(Timestamp.supportedRangeDescription)")
        case .malformed:
            report(.badTime, at: event, "'\(field)' in \(schema.title) is not an RFC 3339 time with an offset: '\(Escaped.value(text))'",
                   hint: "write it like 2023-10-10T08:00:00Z or 2023-10-10T10:00:00+02:00")
        }
        return nil
    }

    func ipAddress(_ event: YAMLEvent) -> Located<IPAddress>? {
        guard event.kind == .scalar, !event.isNull else {
            report(.wrongType, at: event, "'sendingIPs' must list addresses, found \(describe(event))")
            return nil
        }
        guard elementTagFits(event, field: "sendingIPs") else { return nil }
        guard let address = IPAddress(utf8Bytes: event.value) else {
            report(.badIP, at: event, "'\(Escaped.value(event.string))' is not an IPv4 or IPv6 address",
                   hint: "write it like 198.51.100.10 or 2001:db8::10")
            return nil
        }
        return Located(address, at: location(of: event))
    }

    func readCIDR(_ field: String, in schema: ObjectSchema) throws(YAMLReadError) -> Located<AddressBlock>? {
        guard let event = try readScalar(field, in: schema, .cidr) else { return nil }
        let text = event.string
        switch AddressBlock.parse(text) {
        case .success(let block):
            return Located(block, at: location(of: event))
        case .failure(.hostBitsSet(let suggestion)):
            report(.badCIDR, at: event, "'\(Escaped.value(text))' has host bits set", hint: "did you mean '\(suggestion)'?")
        case .failure(.malformed):
            report(.badCIDR, at: event, "'\(Escaped.value(text))' is not a CIDR block", hint: "write it like 198.51.100.0/24 or 2001:db8:100::/48")
        }
        return nil
    }

    /// Reads a list, decoding each element with `element` (which reports its own problems).
    /// Returns `nil` when the value is not a list or any element failed.
    func readList<Element>(_ field: String, in schema: ObjectSchema, nonEmpty: Bool,
                           _ element: (YAMLEvent) -> Element?) throws(YAMLReadError) -> [Element]? {
        let opening = try reader.next()
        if opening.kind == .sequenceStart, !acceptsTag(opening, "tag:yaml.org,2002:seq") {
            report(.unsupportedTag, at: opening, "tag '\(Escaped.value(String(decoding: opening.tag!, as: UTF8.self)))' does not fit '\(field)' in \(schema.title), which is a list",
                   hint: "remove the tag")
            try skip(opening)
            return nil
        }
        guard opening.kind == .sequenceStart else {
            report(.wrongType, at: opening, "'\(field)' in \(schema.title) must be a list, found \(describe(opening))",
                   hint: opening.kind == .scalar ? "write it as [\(Escaped.value(opening.string))] or as a '- ' item" : nil)
            try skip(opening)
            return nil
        }
        var values: [Element] = []
        var ok = true
        while true {
            let event = try reader.next()
            if event.kind == .sequenceEnd { break }
            if event.kind == .scalar, let value = element(event) {
                values.append(value)
            } else {
                if event.kind != .scalar { _ = element(event) }
                ok = false
                try skip(event)
            }
        }
        if nonEmpty && values.isEmpty && ok {
            report(.emptyList, at: opening, "'\(field)' in \(schema.title) must not be empty")
            return nil
        }
        return ok ? values : nil
    }

    /// Reads a mapping of string keys to string values (labels).
    func readStringMap(_ field: String, in schema: ObjectSchema) throws(YAMLReadError) -> [String: String]? {
        guard let opening = try readMapping(field, in: schema) else { return nil }
        var values: [String: String] = [:]
        var ok = true
        while true {
            let key = try reader.next()
            if key.kind == .mappingEnd { break }
            guard key.kind == .scalar, !key.isNull else {
                report(.wrongType, at: key, "keys in '\(field)' must be strings, found \(describe(key))")
                try skip(key)
                try skip(try reader.next())
                ok = false
                continue
            }
            let name = key.string
            if key.plain && name == "<<" {
                report(.mergeKey, at: key, "merge keys (<<) are not supported in '\(field)'",
                       hint: "write the labels out, or use an alias (*name) for the whole mapping")
                try skip(try reader.next())
                ok = false
                continue
            }
            let value = try reader.next()
            guard value.kind == .scalar, !value.isNull else {
                report(.wrongType, at: value, "'\(field).\(Escaped.value(name))' must be a string, found \(describe(value))")
                try skip(value)
                ok = false
                continue
            }
            guard elementTagFits(value, field: "\(field).\(name)") else {
                ok = false
                continue
            }
            if !values.isEmpty, values[name] != nil {
                report(.duplicateKey, at: key, "duplicate key '\(Escaped.value(name))' in '\(field)'")
                ok = false
                continue
            }
            if Escaped.containsControl(name) {
                reportControl(at: key, "a key of '\(field)'", name)
                ok = false
                continue
            }
            let text = value.string
            if Escaped.containsControl(text) {
                reportControl(at: value, "'\(field).\(Escaped.value(name))'", text)
                ok = false
                continue
            }
            values[name] = text
        }
        _ = opening
        return ok ? values : nil
    }
}
