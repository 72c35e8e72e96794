public import SendpathCore
import Foundation

/// A generic YAML reader for small side files (fault lists, fixtures): libyaml's events,
/// read through ``YAMLEventReader``, built into ``YAMLNode`` trees that keep each node's
/// `file:line:column`.
///
/// Manifests do not use it (their decoder works on events directly). It is bounded like the
/// event reader: nesting and alias expansion are limited by ``YAMLLimits``, the number of
/// nodes by `maxNodes`, and ``load(path:limits:maxNodes:maxFileSize:)`` refuses large files
/// unread. Problems are thrown as ``YAMLTreeError`` carrying a ``Diagnostic``.
public enum YAMLTree {
    /// Nodes one file may hold by default: far more than any side file needs.
    public static let defaultMaxNodes = 100_000
    /// Bytes one file may hold by default.
    public static let defaultMaxFileSize = 1 << 20

    /// Parses every document of `bytes`; a document holding nothing is a null scalar.
    public static func parse(_ bytes: some Collection<UInt8>, file: String, limits: YAMLLimits = YAMLLimits(),
                             maxNodes: Int = defaultMaxNodes) throws(YAMLTreeError) -> [YAMLNode] {
        let builder = YAMLTreeBuilder(file: file, reader: YAMLEventReader(bytes: bytes, limits: limits), maxNodes: maxNodes)
        return try builder.documents()
    }

    /// Reads and parses a file, refusing one larger than `maxFileSize` without reading it.
    public static func load(path: String, limits: YAMLLimits = YAMLLimits(), maxNodes: Int = defaultMaxNodes,
                            maxFileSize: Int = defaultMaxFileSize) throws(YAMLTreeError) -> [YAMLNode] {
        let start = SourceLocation(file: path, line: 1, column: 1)
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              attributes[.type] as? FileAttributeType == .typeRegular,
              let size = (attributes[.size] as? NSNumber)?.intValue else {
            throw YAMLTreeError(Diagnostic(.fileUnreadable, at: start, "cannot read '\(path)'",
                                           hint: "check that it exists, is a regular file and is readable"))
        }
        guard size <= maxFileSize else {
            throw YAMLTreeError(Diagnostic(.fileTooLarge, at: start,
                                           "file is \(size) bytes, more than the \(maxFileSize)-byte limit"))
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw YAMLTreeError(Diagnostic(.fileUnreadable, at: start, "cannot read '\(path)'"))
        }
        return try parse(data, file: path, limits: limits, maxNodes: maxNodes)
    }
}

/// One YAML node and where it was read from. Scalars stay text: the reader of a field decides
/// what type it must be (`count: "3"` and `count: 3` differ only by ``YAMLScalar/isPlain``).
public indirect enum YAMLNode: Sendable, Hashable {
    case scalar(YAMLScalar)
    case sequence([YAMLNode], at: SourceLocation)
    /// Entries in document order; keys are unique scalars (a repeated key is an error).
    case mapping([YAMLMappingEntry], at: SourceLocation)

    /// Where the node starts.
    public var location: SourceLocation {
        switch self {
        case .scalar(let scalar): scalar.location
        case .sequence(_, let location), .mapping(_, let location): location
        }
    }

    /// The scalar, when the node is one.
    public var scalar: YAMLScalar? {
        if case .scalar(let scalar) = self { return scalar }
        return nil
    }

    /// Whether this is YAML's null (a plain `~`, `null` or empty scalar).
    public var isNull: Bool { scalar?.isNull ?? false }

    /// "a mapping", "a list", "a string", "null": for messages about a wrong type.
    public var kindDescription: String {
        switch self {
        case .scalar(let scalar): scalar.isNull ? "null" : "a scalar ('\(scalar.value)')"
        case .sequence: "a list"
        case .mapping: "a mapping"
        }
    }
}

/// A scalar's text, how it was written, and where.
public struct YAMLScalar: Sendable, Hashable {
    public var value: String
    /// Written plain (unquoted, not a block scalar): only plain scalars can be null, numbers or booleans.
    public var isPlain: Bool
    /// The explicit tag, if any (`!!str`).
    public var tag: String?
    public var location: SourceLocation

    public init(value: String, isPlain: Bool, tag: String? = nil, location: SourceLocation) {
        self.value = value
        self.isPlain = isPlain
        self.tag = tag
        self.location = location
    }

    /// A plain, untagged `~`, `null`, `Null`, `NULL` or empty scalar.
    public var isNull: Bool {
        isPlain && tag == nil && ["", "~", "null", "Null", "NULL"].contains(value)
    }

    /// The value as a decimal integer, when it is written as one (plain, optional sign, digits).
    public var integer: Int? {
        guard isPlain, tag == nil || tag == "tag:yaml.org,2002:int" else { return nil }
        let digits = value.hasPrefix("-") || value.hasPrefix("+") ? value.dropFirst() : Substring(value)
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(value)
    }
}

/// One `key: value` pair of a mapping.
public struct YAMLMappingEntry: Sendable, Hashable {
    public var key: YAMLScalar
    public var value: YAMLNode

    public init(key: YAMLScalar, value: YAMLNode) {
        self.key = key
        self.value = value
    }
}

/// Why a YAML file could not be read into a tree: one diagnostic, with `file:line:column`.
public struct YAMLTreeError: Error, Sendable, CustomStringConvertible {
    public var diagnostic: Diagnostic

    public init(_ diagnostic: Diagnostic) { self.diagnostic = diagnostic }

    public var description: String { diagnostic.description }
}

/// Builds trees from the event reader, one document at a time (recursion depth is bounded
/// by the reader's nesting limit).
private final class YAMLTreeBuilder {
    let file: String
    let reader: YAMLEventReader
    let maxNodes: Int
    var nodes = 0

    init(file: String, reader: YAMLEventReader, maxNodes: Int) {
        self.file = file
        self.reader = reader
        self.maxNodes = maxNodes
    }

    func documents() throws(YAMLTreeError) -> [YAMLNode] {
        var result: [YAMLNode] = []
        while true {
            let event = try next()
            switch event.kind {
            case .streamStart, .documentEnd:
                continue
            case .streamEnd:
                return result
            case .documentStart:
                let root = try next()
                if root.kind == .documentEnd {
                    result.append(.scalar(YAMLScalar(value: "", isPlain: true, location: location(root))))
                } else {
                    result.append(try node(root))
                }
            default:
                throw YAMLTreeError(Diagnostic(.yamlSyntax, at: location(event), "unexpected YAML event outside a document"))
            }
        }
    }

    private func node(_ event: YAMLEvent) throws(YAMLTreeError) -> YAMLNode {
        nodes += 1
        if nodes > maxNodes {
            throw YAMLTreeError(Diagnostic(.fileTooLarge, at: location(event), "the file holds more than \(maxNodes) YAML nodes"))
        }
        switch event.kind {
        case .scalar:
            return .scalar(scalar(event))
        case .sequenceStart:
            var items: [YAMLNode] = []
            while true {
                let item = try next()
                if item.kind == .sequenceEnd { break }
                items.append(try node(item))
            }
            return .sequence(items, at: location(event))
        case .mappingStart:
            var entries: [YAMLMappingEntry] = []
            var seen: Set<String> = []
            while true {
                let keyEvent = try next()
                if keyEvent.kind == .mappingEnd { break }
                guard keyEvent.kind == .scalar else {
                    let keyNode = try node(keyEvent)
                    throw YAMLTreeError(Diagnostic(.wrongType, at: keyNode.location,
                                                   "a mapping key must be a scalar, found \(keyNode.kindDescription)"))
                }
                let key = scalar(keyEvent)
                nodes += 1
                guard seen.insert(key.value).inserted else {
                    throw YAMLTreeError(Diagnostic(.duplicateKey, at: key.location, "key '\(key.value)' appears twice in this mapping"))
                }
                entries.append(YAMLMappingEntry(key: key, value: try node(try next())))
            }
            return .mapping(entries, at: location(event))
        default:
            throw YAMLTreeError(Diagnostic(.yamlSyntax, at: location(event), "unexpected YAML event where a value should be"))
        }
    }

    private func scalar(_ event: YAMLEvent) -> YAMLScalar {
        YAMLScalar(value: event.string, isPlain: event.plain,
                   tag: event.tag.map { String(decoding: $0, as: UTF8.self) }, location: location(event))
    }

    private func location(_ event: YAMLEvent) -> SourceLocation {
        SourceLocation(file: file, line: event.line, column: event.column)
    }

    private func next() throws(YAMLTreeError) -> YAMLEvent {
        do {
            return try reader.next()
        } catch {
            let rule: DiagnosticRule = switch error.kind {
            case .syntax: .yamlSyntax
            case .nestingTooDeep: .nestingTooDeep
            case .aliasBudget: .aliasBudget
            case .unknownAlias: .unknownAlias
            }
            throw YAMLTreeError(Diagnostic(rule, at: SourceLocation(file: file, line: error.line, column: error.column), error.message))
        }
    }
}
