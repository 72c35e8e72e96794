import ArgumentParser
import Foundation
import Logging
import SendpathCore
import Synchronization

/// Bootstraps swift-log once per process: human lines on stderr, or one JSON object per
/// line for log shippers (`--log-format json`).
///
/// The format also decides how the executable's own stderr lines are written (diagnostics,
/// `--verbose` progress, `invalid:` and `sendpath: error:` lines, command-line errors): with
/// `json`, every line on stderr is one JSON object (see ``StderrLine``).
enum LogSetup {
    enum Format: String, CaseIterable { case human, json }

    private static let done = Mutex(false)
    private static let selected = Mutex(Format.human)

    /// The format of every line on stderr, chosen by `--log-format` (``select(_:)``).
    static var format: Format { selected.withLock { $0 } }

    static func select(_ format: Format) {
        selected.withLock { $0 = format }
    }

    /// The `--log-format` a command line asks for, read before parsing so that even an
    /// argument error is reported in it. Scanning stops at `--`.
    static func requested(in arguments: [String]) -> Format? {
        var found: Format?
        var index = 0
        while index < arguments.count, arguments[index] != "--" {
            let argument = arguments[index]
            if argument == "--log-format", index + 1 < arguments.count {
                found = Format(rawValue: arguments[index + 1]) ?? found
                index += 1
            } else if argument.hasPrefix("--log-format=") {
                found = Format(rawValue: String(argument.dropFirst("--log-format=".count))) ?? found
            }
            index += 1
        }
        return found
    }

    static func bootstrap(_ format: Format) {
        select(format)
        let first = done.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        switch format {
        case .human: LoggingSystem.bootstrap { EscapingLogHandler(inner: StreamLogHandler.standardError(label: $0)) }
        case .json: LoggingSystem.bootstrap { JSONLogHandler(label: $0) }
        }
    }
}

/// Escapes control characters in a record's message and metadata before the human handler
/// prints it: a provider's error text or a manifest value cannot break a log line in two or
/// reach the terminal raw. (The JSON handler's encoder escapes them already.)
struct EscapingLogHandler: LogHandler {
    var inner: any LogHandler

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        event.message = Logger.Message(stringLiteral: Escaped.line(event.message.description))
        event.metadata = event.metadata?.mapValues(Self.escaped)
        inner.log(event: event)
    }

    static func escaped(_ value: Logger.MetadataValue) -> Logger.MetadataValue {
        switch value {
        case .string(let text): .string(Escaped.line(text))
        case .stringConvertible(let convertible): .string(Escaped.line(convertible.description))
        case .array(let values): .array(values.map(escaped))
        case .dictionary(let values): .dictionary(values.mapValues(escaped))
        }
    }
}

/// Writes each record as one JSON object per line on stderr: time (RFC 3339, UTC, with
/// fractional seconds), level, label, message, source and metadata. Values are logged as
/// given, so callers never put secrets in them. Metadata values that are numbers are written
/// as JSON numbers (see ``StderrLine/plain(_:key:)``).
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider

    init(label: String) {
        self.label = label
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        var fields: [String: Any] = ["source": event.source]
        if !merged.isEmpty {
            fields["metadata"] = Dictionary(uniqueKeysWithValues: merged.map { ($0.key, StderrLine.plain($0.value, key: $0.key)) })
        }
        StderrLine.writeJSON(level: event.level.rawValue, label: label, message: event.message.description, fields: fields)
    }
}

/// One line on stderr in the selected ``LogSetup/format``: the human text as given, or one
/// JSON object with `time`, `level`, `label`, `message` and the given fields.
enum StderrLine {
    static func write(_ human: String, level: Logger.Level, label: String = "sendpath", message: String, fields: [String: Any] = [:]) {
        switch LogSetup.format {
        case .human: StandardStreams.err(human.hasSuffix("\n") ? human : human + "\n")
        case .json: writeJSON(level: level.rawValue, label: label, message: message, fields: fields)
        }
    }

    static func writeJSON(level: String, label: String, message: String, fields: [String: Any]) {
        var object = fields
        object["time"] = timestamp(Date())
        object["level"] = level
        object["label"] = label
        object["message"] = message
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        FileHandle.standardError.write(data + Data("\n".utf8))
    }

    /// RFC 3339 in UTC with milliseconds: `2026-12-05T12:18:22.123Z`.
    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    /// Keys whose values are names, not quantities, even when they are all digits.
    static let identifierKeys: Set<String> = ["id", "name", "key", "holder", "group", "path", "url", "message", "address",
                                              "reason", "type", "code", "scope", "operation", "outcome", "effect", "method"]

    /// A metadata value as JSON: numbers (logged as text by string interpolation, or as
    /// numeric values) become JSON numbers unless the key names an identifier (`cutover.id`).
    static func plain(_ value: Logger.MetadataValue, key: String = "") -> Any {
        let isIdentifier = identifierKeys.contains(String(key.split(separator: ".").last ?? ""))
        switch value {
        case .string(let text): return isIdentifier ? text : number(text) ?? text
        case .stringConvertible(let convertible):
            switch convertible {
            case let value as any BinaryInteger where !isIdentifier: return number("\(value)") ?? "\(value)"
            case let value as Double where !isIdentifier && value.isFinite: return value
            case let value as Bool: return value
            default: return isIdentifier ? convertible.description : number(convertible.description) ?? convertible.description
            }
        case .array(let values): return values.map { plain($0, key: key) }
        case .dictionary(let values): return Dictionary(uniqueKeysWithValues: values.map { ($0.key, plain($0.value, key: $0.key)) })
        }
    }

    /// A JSON number for text that is exactly a decimal number (`3`, `-2`, `0.25`; no leading
    /// zeros, no exponent, no sign on zero's left but `-`), else nil.
    static func number(_ text: String) -> Any? {
        let bytes = Array(text.utf8)
        var index = bytes.first == UInt8(ascii: "-") ? 1 : 0
        let digitsStart = index
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        let integerDigits = index - digitsStart
        guard integerDigits > 0, integerDigits == 1 || bytes[digitsStart] != UInt8(ascii: "0") else { return nil }
        if index == bytes.count { return Int(text) }
        guard bytes[index] == UInt8(ascii: "."), index + 1 < bytes.count else { return nil }
        index += 1
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        guard index == bytes.count, let value = Double(text), value.isFinite else { return nil }
        return value
    }
}

/// With `--log-format json`, a command-line error (exit 64) or a failure that
/// ArgumentParser reports is one JSON line too; help, version and explicit exit codes are
/// unchanged. This `main` replaces the one `AsyncParsableCommand` provides.
extension SendpathCommand {
    static func main() async {
        LogSetup.select(LogSetup.requested(in: Array(CommandLine.arguments.dropFirst())) ?? .human)
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            let text = message(for: error)
            if LogSetup.format == .json, code != .success, !text.isEmpty {
                StderrLine.writeJSON(level: "error", label: "sendpath", message: Escaped.line(text),
                                     fields: ["exit.code": Int(code.rawValue)])
                Foundation.exit(code.rawValue)
            }
            exit(withError: error)
        }
    }
}
