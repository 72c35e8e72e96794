/// A hint for libyaml's syntax errors, whose own words ("found character that cannot start
/// any token") say what the parser saw, not what to change. Chosen from the message and the
/// line it points at; the line itself is never quoted.
enum YAMLSyntaxHint {
    static func hint(for message: String, line: [UInt8], column: Int) -> String {
        let indentation = line.prefix { $0 == 0x20 || $0 == 0x09 }
        let at = column >= 1 && column <= line.count ? line[column - 1] : nil
        if indentation.contains(0x09) || at == 0x09 {
            return "YAML does not allow tabs for indentation; indent with spaces"
        }
        if message.contains("UTF-8") || message.contains("control characters") || message.contains("invalid") && message.contains("octet") {
            return "save the file as UTF-8 text, without control characters"
        }
        if message.contains("cannot start any token") {
            if let at, [0x40, 0x60].contains(at) {  // @ `
                return "'@' and '`' cannot start a plain value: quote it"
            }
            return "a value starting with this character must be quoted"
        }
        if message.contains("mapping values are not allowed") {
            return "a value that holds ': ' must be quoted, or this line is indented more than its key"
        }
        if message.contains("did not find expected key") || message.contains("did not find expected '-'") {
            return "check this line's indentation against the lines above: keys of one mapping line up"
        }
        if message.contains("expected ',' or ']'") { return "close the list with ']', or separate its items with ','" }
        if message.contains("expected ',' or '}'") { return "close the mapping with '}', or separate its entries with ','" }
        if message.contains("end of stream") || message.contains("quoted scalar") {
            return "a quoted value is not closed: add the closing quote"
        }
        if message.contains("alias") || message.contains("anchor") {
            return "anchors (&name) and aliases (*name) must be followed by a name"
        }
        return "check the YAML at this line and column"
    }
}
