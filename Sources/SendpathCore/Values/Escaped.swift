/// Text from manifests, files, flags or providers made safe to print on one line.
///
/// Control characters cannot reach a terminal or a log line raw: newline, carriage return and
/// tab print as `\n`, `\r`, `\t`; every other C0 control, DEL, the C1 controls, the Unicode line
/// and paragraph separators and the bidirectional overrides print as `\u{1B}`. So a scalar
/// cannot start a new line that looks like a `file:line:col: warning:` diagnostic, move the
/// cursor, or reorder what a reader sees. Long values are cut with an ellipsis.
public enum Escaped {
    /// Values (a scalar, a name, a path) longer than this are cut: `…` follows the first 200.
    public static let valueLimit = 200
    /// Whole messages longer than this are cut.
    public static let lineLimit = 2000

    /// A value quoted in a message: escaped, and cut after ``valueLimit`` characters.
    public static func value(_ text: some StringProtocol) -> String {
        escape(text, limit: valueLimit)
    }

    /// A whole message or line: escaped, and cut after ``lineLimit`` characters.
    public static func line(_ text: some StringProtocol) -> String {
        escape(text, limit: lineLimit)
    }

    /// Whether `scalar` is one that ``escape(_:limit:)`` replaces.
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    /// Whether `text` holds any character ``isControl(_:)`` accepts.
    public static func containsControl(_ text: some StringProtocol) -> Bool {
        var text = String(text)
        return text.withUTF8 { containsControl(utf8: $0) }
    }

    /// ``containsControl(_:)`` on UTF-8 bytes: printable ASCII, the common case, is decided
    /// byte by byte; only text with other bytes is decoded.
    public static func containsControl(utf8 bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var ascii = true
        for byte in bytes {
            if byte < 0x20 || byte == 0x7F { return true }
            if byte >= 0x80 { ascii = false }
        }
        if ascii { return false }
        return String(decoding: bytes, as: UTF8.self).unicodeScalars.contains(where: isControl)
    }

    /// Escapes control characters and cuts after `limit` characters (of the input).
    public static func escape(_ text: some StringProtocol, limit: Int) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count == limit {
                out += "…"
                return out
            }
            count += 1
            guard isControl(scalar) else {
                out.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
        }
        return out
    }
}
