internal import CYAML

/// The kinds of libyaml event the decoder consumes.
enum YAMLEventKind: Sendable {
    case streamStart, streamEnd, documentStart, documentEnd
    case mappingStart, mappingEnd, sequenceStart, sequenceEnd
    case scalar, alias
}

/// One event. Its byte buffers stay valid until the reader is advanced past the current
/// document (replayed events) or to the next event (live ones); copy what must outlive that.
///
/// Laid out for the hot path: word-sized fields first, no optionals (an absent tag or anchor
/// is a buffer with no base address), the two one-byte fields last.
struct YAMLEvent {
    /// A scalar's value, or an alias's anchor name.
    var value: UnsafeBufferPointer<UInt8>
    /// The explicit tag's bytes (`!!str`, `!custom`); no base address when the node has none.
    var tagBytes: UnsafeBufferPointer<UInt8>
    /// The anchor the node defines (live events only); no base address when none.
    var anchorBytes: UnsafeBufferPointer<UInt8>
    /// 1-based position of the event's first character.
    var line: Int
    var column: Int
    var kind: YAMLEventKind
    /// Whether a scalar was written plain (unquoted, not a block scalar).
    var plain: Bool

    static var none: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: nil, count: 0) }

    init(kind: YAMLEventKind, line: Int, column: Int, value: UnsafeBufferPointer<UInt8> = YAMLEvent.none,
         tag: UnsafeBufferPointer<UInt8>? = nil, anchor: UnsafeBufferPointer<UInt8>? = nil, plain: Bool = false) {
        self.value = value
        self.tagBytes = tag ?? Self.none
        self.anchorBytes = anchor ?? Self.none
        self.line = line
        self.column = column
        self.kind = kind
        self.plain = plain
    }

    /// The explicit tag, if the node had one.
    var tag: UnsafeBufferPointer<UInt8>? { tagBytes.baseAddress == nil ? nil : tagBytes }
    /// The anchor the node defines, if any.
    var anchor: UnsafeBufferPointer<UInt8>? { anchorBytes.baseAddress == nil ? nil : anchorBytes }

    var string: String { String(decoding: value, as: UTF8.self) }

    /// A plain `~`, `null`, `Null`, `NULL` or empty scalar: YAML's null, not a string.
    var isNull: Bool {
        guard kind == .scalar, plain, tagBytes.baseAddress == nil else { return false }
        switch value.count {
        case 0: return true
        case 1: return value[0] == 0x7E
        case 4:
            // null, Null or NULL, byte by byte: four-byte keys (kind, spec, name, wave) come here.
            let first = value[0]
            if (first == 0x6E || first == 0x4E) && value[1] == 0x75 && value[2] == 0x6C && value[3] == 0x6C { return true }
            return first == 0x4E && value[1] == 0x55 && value[2] == 0x4C && value[3] == 0x4C
        default: return false
        }
    }

    func equals(_ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { value.elementsEqual($0) }
    }
}

/// An event copied into the reader's arena, valid until the next document starts.
struct RecordedYAMLEvent {
    var kind: YAMLEventKind
    var line: Int
    var column: Int
    var value: UnsafeBufferPointer<UInt8>
    var tag: UnsafeBufferPointer<UInt8>?
    var plain: Bool
}

/// Fatal problems reading one file: the reader cannot continue past them.
struct YAMLReadError: Error {
    enum Kind {
        case syntax
        case nestingTooDeep
        case aliasBudget
        case unknownAlias
    }
    var kind: Kind
    var message: String
    var line: Int
    var column: Int
}

/// Limits that keep hostile input bounded in time and memory.
public struct YAMLLimits: Sendable {
    /// Deepest nesting of mappings and sequences; manifests need about six.
    public var maxDepth: Int
    /// Events that alias expansion may produce in one document (billion-laughs guard).
    public var maxAliasEvents: Int

    public init(maxDepth: Int = 64, maxAliasEvents: Int = 100_000) {
        self.maxDepth = maxDepth
        self.maxAliasEvents = maxAliasEvents
    }
}

/// Pulls libyaml's events from one in-memory file, resolving aliases by replaying the
/// events recorded under their anchor (within a document, under an expansion budget) and
/// refusing nesting beyond a limit. It never builds a node tree.
final class YAMLEventReader {
    private var parser = yaml_parser_t()
    private var event = yaml_event_t()
    private var hasLiveEvent = false
    private let input: UnsafeMutableBufferPointer<UInt8>
    private let limits: YAMLLimits

    private struct Recording {
        var anchor: [UInt8]
        var depth: Int
        var events: [RecordedYAMLEvent]
    }

    private var arena: [UnsafeMutableBufferPointer<UInt8>] = []
    private var anchors: [[UInt8]: [RecordedYAMLEvent]] = [:]
    private var recordings: [Recording] = []
    private var replay: [(events: [RecordedYAMLEvent], index: Int)] = []
    private var captures: [Recording] = []
    private var aliasEvents = 0
    private(set) var depth = 0

    init(bytes: some Collection<UInt8>, limits: YAMLLimits) {
        input = .allocate(capacity: max(bytes.count, 1))
        _ = input.initialize(from: bytes)
        self.limits = limits
        yaml_parser_initialize(&parser)
        yaml_parser_set_input_string(&parser, input.baseAddress, bytes.count)
    }

    deinit {
        if hasLiveEvent { yaml_event_delete(&event) }
        yaml_parser_delete(&parser)
        input.deallocate()
        releaseArena()
    }

    private func releaseArena() {
        for buffer in arena { buffer.deallocate() }
        arena.removeAll()
    }

    /// The next event, from a pending alias replay or from libyaml.
    func next() throws(YAMLReadError) -> YAMLEvent {
        // The common case first: a live event that defines no anchor, is no alias and starts
        // no document, while nothing is replayed, recorded or captured. Only the depth changes.
        guard replay.isEmpty, recordings.isEmpty, captures.isEmpty else { return try nextInGeneral() }
        let result = try nextLive()
        guard result.anchorBytes.baseAddress == nil else { return try continueInGeneral(live: result) }
        switch result.kind {
        case .scalar:
            return result
        case .mappingEnd, .sequenceEnd:
            depth -= 1
            return result
        case .mappingStart, .sequenceStart:
            try track(result)
            return result
        default:
            return try continueInGeneral(live: result)
        }
    }

    private func nextInGeneral() throws(YAMLReadError) -> YAMLEvent {
        guard var top = replay.popLast() else { return try continueInGeneral(live: nextLive()) }
        let recorded = top.events[top.index]
        top.index += 1
        if top.index < top.events.count { replay.append(top) }
        aliasEvents += 1
        if aliasEvents > limits.maxAliasEvents {
            throw YAMLReadError(kind: .aliasBudget,
                                message: "aliases expand to more than \(limits.maxAliasEvents) nodes in one document",
                                line: recorded.line, column: recorded.column)
        }
        let result = YAMLEvent(kind: recorded.kind, line: recorded.line, column: recorded.column,
                               value: recorded.value, tag: recorded.tag, anchor: nil, plain: recorded.plain)
        if result.kind == .alias { return try expandAlias(result) }
        try track(result)
        capture(result)
        return result
    }

    /// The rest of ``next()`` for a live event: aliases, anchors, documents, recordings.
    private func continueInGeneral(live result: YAMLEvent) throws(YAMLReadError) -> YAMLEvent {
        if result.kind == .alias {
            record(result)
            return try expandAlias(result)
        }
        if result.kind == .documentStart {
            anchors.removeAll()
            recordings.removeAll()
            releaseArena()
            aliasEvents = 0
        }
        if result.anchorBytes.baseAddress != nil {
            recordings.append(Recording(anchor: Array(result.anchorBytes), depth: depth, events: []))
        }
        record(result)
        try track(result)
        capture(result)
        return result
    }

    /// Records the events of the next node (the caller has not read its first event yet),
    /// so that ``replay(_:)`` can feed them again later. Used when `spec` comes before `kind`.
    func captureNode() throws(YAMLReadError) -> [RecordedYAMLEvent] {
        captures.append(Recording(anchor: [], depth: depth, events: []))
        defer { captures.removeLast() }
        var first = true
        while true {
            let event = try next()
            let closes = first ? (event.kind != .mappingStart && event.kind != .sequenceStart)
                : ((event.kind == .mappingEnd || event.kind == .sequenceEnd) && depth == captures.last!.depth)
            first = false
            if closes { break }
        }
        return captures.last!.events
    }

    /// Feeds the events of a node captured by ``captureNode()`` again (not counted as alias expansion).
    /// The bytes of 1-based line `number` of the input, without its line break (empty past
    /// the end), for hints about syntax errors.
    func lineBytes(_ number: Int) -> [UInt8] {
        var line = 1
        var start = 0
        while line < number, start < input.count {
            if input[start] == 0x0A { line += 1 }
            start += 1
        }
        guard line == number else { return [] }
        var end = start
        while end < input.count, input[end] != 0x0A, input[end] != 0x0D { end += 1 }
        return Array(input[start..<end])
    }

    func replay(_ events: [RecordedYAMLEvent]) {
        guard !events.isEmpty else { return }
        aliasEvents -= events.count
        replay.append((events, 0))
    }

    private func track(_ event: YAMLEvent) throws(YAMLReadError) {
        switch event.kind {
        case .mappingStart, .sequenceStart:
            depth += 1
            if depth > limits.maxDepth {
                throw YAMLReadError(kind: .nestingTooDeep,
                                    message: "collections nested more than \(limits.maxDepth) levels deep",
                                    line: event.line, column: event.column)
            }
        case .mappingEnd, .sequenceEnd:
            depth -= 1
        default:
            break
        }
    }

    private func expandAlias(_ alias: YAMLEvent) throws(YAMLReadError) -> YAMLEvent {
        guard let events = anchors[Array(alias.value)], !events.isEmpty else {
            throw YAMLReadError(kind: .unknownAlias,
                                message: "alias '*\(alias.string)' refers to no anchor defined before it in this document",
                                line: alias.line, column: alias.column)
        }
        // Re-anchor the replayed events at the alias, so diagnostics point where it is used.
        let relocated = events.map {
            RecordedYAMLEvent(kind: $0.kind, line: alias.line, column: alias.column, value: $0.value, tag: $0.tag, plain: $0.plain)
        }
        replay.append((relocated, 0))
        return try next()
    }

    /// Appends a source event to every open anchor recording and closes those it completes.
    private func record(_ event: YAMLEvent) {
        guard !recordings.isEmpty else { return }
        let stored = RecordedYAMLEvent(kind: event.kind, line: event.line, column: event.column,
                                   value: copy(event.value), tag: event.tag.map(copy), plain: event.plain)
        var index = recordings.count - 1
        while index >= 0 {
            recordings[index].events.append(stored)
            index -= 1
        }
        // A recording is complete when its node closes: a scalar or alias node is one event,
        // a collection ends when the depth returns to where it started.
        while let last = recordings.last {
            let isOpen: Bool
            switch event.kind {
            case .mappingStart, .sequenceStart:
                isOpen = true
            case .mappingEnd, .sequenceEnd:
                isOpen = depth - 1 != last.depth
            default:
                isOpen = last.events.count > 1
            }
            if isOpen { break }
            anchors[last.anchor] = last.events
            recordings.removeLast()
        }
    }

    private func capture(_ event: YAMLEvent) {
        guard !captures.isEmpty else { return }
        let stored = RecordedYAMLEvent(kind: event.kind, line: event.line, column: event.column,
                                   value: copy(event.value), tag: event.tag.map(copy), plain: event.plain)
        for index in captures.indices { captures[index].events.append(stored) }
    }

    private func copy(_ bytes: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(bytes.count, 1))
        _ = buffer.initialize(from: bytes)
        arena.append(buffer)
        return UnsafeBufferPointer(start: buffer.baseAddress, count: bytes.count)
    }

    private func nextLive() throws(YAMLReadError) -> YAMLEvent {
        if hasLiveEvent {
            yaml_event_delete(&event)
            hasLiveEvent = false
        }
        guard yaml_parser_parse(&parser, &event) == 1 else {
            throw syntaxError()
        }
        hasLiveEvent = true
        let line = Int(event.start_mark.line) + 1
        let column = Int(event.start_mark.column) + 1
        func buffer(_ pointer: UnsafeMutablePointer<yaml_char_t>?, _ count: Int) -> UnsafeBufferPointer<UInt8> {
            UnsafeBufferPointer(start: pointer, count: pointer == nil ? 0 : count)
        }
        func cString(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> UnsafeBufferPointer<UInt8> {
            guard let pointer else { return YAMLEvent.none }
            return UnsafeBufferPointer(start: pointer, count: strlen(pointer))
        }
        var result = YAMLEvent(kind: .streamEnd, line: line, column: column)
        switch event.type {
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            result.kind = .scalar
            result.value = buffer(scalar.value, scalar.length)
            result.tagBytes = cString(scalar.tag)
            result.anchorBytes = cString(scalar.anchor)
            result.plain = scalar.style == YAML_PLAIN_SCALAR_STYLE
        case YAML_MAPPING_START_EVENT:
            let mapping = event.data.mapping_start
            result.kind = .mappingStart
            result.tagBytes = cString(mapping.tag)
            result.anchorBytes = cString(mapping.anchor)
        case YAML_SEQUENCE_START_EVENT:
            let sequence = event.data.sequence_start
            result.kind = .sequenceStart
            result.tagBytes = cString(sequence.tag)
            result.anchorBytes = cString(sequence.anchor)
        case YAML_ALIAS_EVENT:
            result.kind = .alias
            result.value = cString(event.data.alias.anchor)
        case YAML_MAPPING_END_EVENT: result.kind = .mappingEnd
        case YAML_SEQUENCE_END_EVENT: result.kind = .sequenceEnd
        case YAML_DOCUMENT_START_EVENT: result.kind = .documentStart
        case YAML_DOCUMENT_END_EVENT: result.kind = .documentEnd
        case YAML_STREAM_START_EVENT: result.kind = .streamStart
        default: break
        }
        return result
    }

    private func syntaxError() -> YAMLReadError {
        let problem = parser.problem.map { String(cString: $0) } ?? "malformed YAML"
        var message = problem
        if let context = parser.context.map({ String(cString: $0) }) {
            message = "\(problem) \(context)"
        }
        if parser.error == YAML_READER_ERROR {
            // Encoding problems carry a byte offset, not a mark: count lines and characters to it.
            let offset = min(Int(parser.problem_offset), input.count)
            var line = 1, column = 1
            for byte in input[..<offset] {
                if byte == 0x0A { line += 1; column = 1 } else if byte & 0xC0 != 0x80 { column += 1 }
            }
            return YAMLReadError(kind: .syntax, message: message, line: line, column: column)
        }
        let mark = parser.problem_mark
        return YAMLReadError(kind: .syntax, message: message,
                             line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }
}
