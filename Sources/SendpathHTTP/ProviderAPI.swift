public import SendpathCore
import Foundation

/// The provider HTTP API's wire contract, shared by ``ProviderAPIServer`` and ``HTTPProvider``:
/// its operations, headers and the rules their values follow.
///
/// The normative description is `docs/provider-api.yaml` (OpenAPI 3.1); `docs/provider-api.md`
/// explains how to implement a provider. Everything is JSON over HTTP under ``basePath``, with
/// `Authorization: Bearer <token>` on every call. Mutating calls also carry
/// ``idempotencyKeyHeader``, ``fencingTokenHeader`` and ``stepHeader``.
public enum ProviderAPI {
    /// Every operation's path starts with this.
    public static let basePath = "/v1"

    /// The idempotency key of a mutating call: 1 to 256 printable ASCII characters.
    public static let idempotencyKeyHeader = "Idempotency-Key"
    /// The caller's fencing token: a decimal integer ≥ 0.
    public static let fencingTokenHeader = "Sendpath-Fencing-Token"
    /// The step a mutating call belongs to (a ``StepName`` raw value).
    public static let stepHeader = "Sendpath-Step"

    /// The longest idempotency key accepted.
    public static let maxIdempotencyKeyLength = 256

    /// The operations, each a `POST` to `basePath + "/" + rawValue`.
    public enum Operation: String, Sendable, CaseIterable {
        case observeInstances = "instances/observe"
        case observePrefixes = "prefixes/observe"
        case observeFencing = "fencing/observe"
        case prepareTarget = "prepare-target"
        case freeze
        case snapshotQueue = "snapshot-queue"
        case switchPath = "switch-path"
        case resend
        case unfreeze
        case rollbackPath = "rollback-path"

        /// The path below the server root, like `/v1/freeze`.
        public var path: String { ProviderAPI.basePath + "/" + rawValue }

        /// Whether the operation changes the fleet (and so needs the mutation headers).
        public var isMutating: Bool { self != .observeInstances && self != .observePrefixes && self != .observeFencing }
    }

    /// Whether `key` is 1 to 256 printable ASCII characters (0x20 to 0x7E) with no space at
    /// either end (HTTP would strip it).
    public static func isValidIdempotencyKey(_ key: String) -> Bool {
        let bytes = Array(key.utf8)
        guard !bytes.isEmpty, bytes.count <= maxIdempotencyKeyLength,
              bytes.first != 0x20, bytes.last != 0x20 else { return false }
        return bytes.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }
    }

    /// The key as sent on the wire: `key` itself when valid, else a stable valid stand-in — its
    /// first printable ASCII characters (at most 215), `~`, and a 128-bit hex digest of the
    /// whole key. The same key always gives the same stand-in, so retries, replays and the
    /// `snapshotKey` of a resend (mapped the same way) still match. Sendpath's own keys only
    /// need it for groups of many long prefix names.
    public static func wireKey(_ key: String) -> String {
        guard !isValidIdempotencyKey(key) else { return key }
        let printable = key.utf8.filter { $0 > 0x20 && $0 <= 0x7E }.prefix(215)
        return String(decoding: printable, as: UTF8.self) + "~" + digest(key)
    }

    /// Two FNV-1a 64-bit hashes (different offset bases) of the UTF-8 bytes, as 32 hex digits.
    static func digest(_ text: String) -> String {
        func fnv1a(_ basis: UInt64) -> UInt64 {
            text.utf8.reduce(basis) { ($0 ^ UInt64($1)) &* 0x0000_0100_0000_01B3 }
        }
        return [fnv1a(0xCBF2_9CE4_8422_2325), fnv1a(0x6C62_272E_07BB_0142)]
            .map { String($0, radix: 16).leftPadded(to: 16) }.joined()
    }

    /// Parses a fencing token header value: decimal digits only, a value in `0...Int64.max`.
    public static func parseFencingToken(_ text: String) -> FencingToken? {
        guard !text.isEmpty, text.utf8.count <= 19, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let value = Int64(text) else { return nil }
        return FencingToken(value)
    }
}

extension String {
    func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}

// MARK: - Bodies

/// `POST /v1/instances/observe` request.
/// `step` may be absent but never `null` (the schema says string).
struct ObserveInstancesRequest: Codable, Sendable {
    var names: [String]
    var step: StepName?

    init(names: [String], step: StepName?) {
        self.names = names
        self.step = step
    }

    private enum CodingKeys: String, CodingKey { case names, step }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        names = try container.decode([String].self, forKey: .names)
        if container.contains(.step), try container.decodeNil(forKey: .step) {
            throw DecodingError.valueNotFound(String.self, .init(codingPath: [CodingKeys.step], debugDescription: "step is null"))
        }
        step = try container.decodeIfPresent(StepName.self, forKey: .step)
    }
}

/// `POST /v1/instances/observe` answer: unknown names are absent.
struct ObserveInstancesResponse: Codable, Sendable {
    var instances: [ObservedInstance]
}

/// `POST /v1/prefixes/observe` request (CIDR texts, parsed by the server for clear errors).
struct ObservePrefixesRequest: Codable, Sendable {
    var cidrs: [String]
}

/// `POST /v1/prefixes/observe` answer: unknown prefixes are absent.
struct ObservePrefixesResponse: Codable, Sendable {
    var prefixes: [ObservedPrefix]
}

/// `POST /v1/fencing/observe` request: an object (empty; unknown fields ignored), never an
/// array or a scalar.
struct ObserveFencingRequest: Codable, Sendable {
    init() {}

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        _ = try decoder.container(keyedBy: AnyKey.self)
    }

    func encode(to encoder: any Encoder) throws {
        _ = encoder.container(keyedBy: AnyKey.self)
    }
}

/// `POST /v1/fencing/observe` answer.
struct ObserveFencingResponse: Codable, Sendable {
    var highestFencingToken: FencingToken
}

/// The body of prepare-target, switch-path and rollback-path as it comes off the wire: prefixes
/// keyed by their text, parsed by the server so a bad one gets the API's message.
struct PathChangeRequest: Codable, Sendable {
    var group: String
    var instances: [String: SendingPath]
    var prefixes: [String: SendingPath]
}

/// The body of freeze, snapshot-queue and unfreeze.
struct InstancesRequest: Codable, Sendable {
    var instances: [String]
}

/// `POST /v1/snapshot-queue` answer.
struct SnapshotQueueResponse: Codable, Sendable {
    var snapshots: [QueueSnapshot]
}

/// `POST /v1/resend` request. `maxAgeSeconds` is a number ≥ 0 (whole seconds in practice).
struct ResendRequest: Codable, Sendable {
    var instances: [String]
    var snapshotKey: String
    var maxAgeSeconds: Double

    init(instances: [String], snapshotKey: String, maxAge: Duration) {
        self.instances = instances
        self.snapshotKey = snapshotKey
        maxAgeSeconds = maxAge.seconds
    }

    /// The age limit as a duration: exact for whole seconds, to the nanosecond otherwise.
    var maxAge: Duration? { Duration(jsonSeconds: maxAgeSeconds) }
}

/// `POST /v1/resend` answer.
struct ResendResponse: Codable, Sendable {
    var results: [ResendResult]
}

/// The answer of operations that return nothing: `{}`.
struct EmptyResponse: Codable, Sendable {}

/// The one error shape: `{"error": {"code", "message", "retryable"}}`.
struct ErrorEnvelope: Codable, Sendable {
    struct Body: Codable, Sendable {
        var code: String
        var message: String
        var retryable: Bool
    }

    var error: Body
}

/// JSON coding shared by both ends.
enum WireJSON {
    static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try JSONDecoder().decode(type, from: data)
    }

    /// A decoding failure in words: where in the body, and what was wrong.
    static func describe(_ error: any Error) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            let text = keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.isEmpty ? "the body" : String(text.drop { $0 == "." })
        }
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(typeName(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): expected \(typeName(type)), found null"
        case .keyNotFound(let key, let context):
            return "missing field '\(path(context.codingPath + [key]))'"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "the body is not valid JSON" }
            // Foundation names the Swift type of a bad enum value ("Cannot initialize StepName
            // from invalid String value x"): say it in the API's words instead.
            if context.debugDescription.hasPrefix("Cannot initialize ") {
                return "\(path(context.codingPath)): not one of the values the API allows"
            }
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type, is Int64.Type, is Double.Type: "a number"
        default: type is any Collection.Type ? "a list or object" : "an object"
        }
    }
}
