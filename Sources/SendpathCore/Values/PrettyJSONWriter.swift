/// Writes JSON as bytes, laid out exactly as Foundation's `JSONEncoder` does with
/// `[.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]`, and hands them out in chunks.
///
/// The caller writes keys in sorted order; the writer only lays them out. Two spaces per level,
/// `"key" : value`, an empty container as an opening bracket, an empty line and the closing one,
/// numbers as `JSONEncoder` prints them (a whole `Double` without `.0`), strings escaped as it
/// escapes them (`\"`, `\\`, `\b \f \n \r \t`, other control characters as `\u00xx`; `/` and
/// everything else as is). No I/O: whoever owns the writer drains ``bytes`` with ``drain(if:)``.
public struct PrettyJSONWriter: Sendable {
    /// What was written and not yet drained.
    public private(set) var bytes: [UInt8] = []
    /// Per open container: whether it has a member yet.
    private var hasMembers: [Bool] = []
    /// A key was just written: the next value follows it on the same line.
    private var afterKey = false

    public init(capacity: Int = 1 << 16) {
        bytes.reserveCapacity(capacity)
    }

    /// The nesting depth (0 at the top level).
    public var depth: Int { hasMembers.count }

    /// Returns the bytes written so far and forgets them, once there are at least `threshold`.
    public mutating func drain(if threshold: Int = 0) -> [UInt8]? {
        guard bytes.count >= threshold, !bytes.isEmpty else { return nil }
        let out = bytes
        bytes.removeAll(keepingCapacity: true)
        return out
    }

    // MARK: Containers

    public mutating func beginObject() {
        startValue()
        bytes.append(UInt8(ascii: "{"))
        hasMembers.append(false)
    }

    public mutating func endObject() { close(UInt8(ascii: "}")) }

    public mutating func beginArray() {
        startValue()
        bytes.append(UInt8(ascii: "["))
        hasMembers.append(false)
    }

    public mutating func endArray() { close(UInt8(ascii: "]")) }

    /// An object member's key; its value comes next.
    public mutating func key(_ key: String) {
        newMember()
        quoted(key)
        bytes.append(UInt8(ascii: " "))
        bytes.append(UInt8(ascii: ":"))
        bytes.append(UInt8(ascii: " "))
        afterKey = true
    }

    // MARK: Values

    public mutating func string(_ value: String) {
        startValue()
        quoted(value)
    }

    private mutating func quoted(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var utf8 = value
        utf8.withUTF8 { buffer in
            var start = 0
            for index in 0..<buffer.count {
                let byte = buffer[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start..<index]))
                start = index + 1
                switch byte {
                case UInt8(ascii: "\""): bytes.append(contentsOf: "\\\"".utf8)
                case UInt8(ascii: "\\"): bytes.append(contentsOf: "\\\\".utf8)
                case 0x08: bytes.append(contentsOf: "\\b".utf8)
                case 0x0C: bytes.append(contentsOf: "\\f".utf8)
                case 0x0A: bytes.append(contentsOf: "\\n".utf8)
                case 0x0D: bytes.append(contentsOf: "\\r".utf8)
                case 0x09: bytes.append(contentsOf: "\\t".utf8)
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: "\\u00".utf8)
                    bytes.append(hex[Int(byte >> 4)])
                    bytes.append(hex[Int(byte & 0x0F)])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start..<buffer.count]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func string(_ value: String?) {
        if let value { string(value) } else { null() }
    }

    public mutating func integer(_ value: Int) {
        startValue()
        bytes.append(contentsOf: String(value).utf8)
    }

    public mutating func number(_ value: Double) {
        startValue()
        let text = value.description
        bytes.append(contentsOf: text.hasSuffix(".0") ? text.dropLast(2).utf8 : text.utf8[...])
    }

    public mutating func bool(_ value: Bool) {
        startValue()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    public mutating func null() {
        startValue()
        bytes.append(contentsOf: "null".utf8)
    }

    /// A value written earlier at the same depth (see ``captured(_:)``), copied as it was.
    public mutating func raw(_ value: [UInt8]) {
        startValue()
        bytes.append(contentsOf: value)
    }

    /// Writes one value with `body` and also returns its bytes, to repeat it with ``raw(_:)``
    /// at the same depth (a group's steps, the same for each of its members).
    public mutating func captured(_ body: (inout PrettyJSONWriter) -> Void) -> [UInt8] {
        startValue()
        var inner = PrettyJSONWriter(capacity: 256)
        inner.hasMembers = Array(repeating: true, count: depth)
        inner.afterKey = true
        body(&inner)
        bytes.append(contentsOf: inner.bytes)
        return inner.bytes
    }

    /// An empty writer that continues this one's layout after a member: what it writes follows
    /// on as the next members of the open container (see ``append(continued:)``).
    public func continuation(capacity: Int = 1 << 16) -> PrettyJSONWriter {
        var next = PrettyJSONWriter(capacity: capacity)
        next.hasMembers = Array(repeating: true, count: depth)
        return next
    }

    /// Bytes written by a ``continuation(capacity:)`` of this writer, as they were; the
    /// container then has members.
    public mutating func append(continued value: [UInt8]) {
        guard !value.isEmpty else { return }
        bytes.append(contentsOf: value)
        if !hasMembers.isEmpty { hasMembers[hasMembers.count - 1] = true }
    }

    // MARK: Layout

    private mutating func newMember() {
        if hasMembers.last == true { bytes.append(UInt8(ascii: ",")) }
        if !hasMembers.isEmpty { hasMembers[hasMembers.count - 1] = true }
        bytes.append(UInt8(ascii: "\n"))
        indent(depth)
    }

    private mutating func startValue() {
        if afterKey {
            afterKey = false
        } else if !hasMembers.isEmpty {
            newMember()  // an array element
        }
    }

    private mutating func close(_ bracket: UInt8) {
        let had = hasMembers.removeLast()
        bytes.append(UInt8(ascii: "\n"))
        if !had { bytes.append(UInt8(ascii: "\n")) }
        indent(depth)
        bytes.append(bracket)
    }

    private mutating func indent(_ levels: Int) {
        // Byte by byte: appending a string literal's UTF-8 view takes the slow generic path, and
        // every line of a 100,000-instance report is indented.
        for _ in 0..<(2 * levels) { bytes.append(UInt8(ascii: " ")) }
    }
}
