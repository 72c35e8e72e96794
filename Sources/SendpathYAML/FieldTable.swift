import SendpathCore
import Foundation

/// An ``ObjectSchema`` prepared for the decoder's hot path: field names as bytes, so keys
/// are matched without building strings, and the required fields as a bit mask.
///
/// The tables are the static ones below, shared by the decoding threads and never freed: their
/// names are kept as plain byte buffers, so matching a key touches no reference count (two
/// threads retaining the same arrays for every key was measurable at 100k instances).
final class FieldTable: Sendable {
    let schema: ObjectSchema
    let names: ByteNames
    let fieldNames: [String]
    let requiredMask: UInt64

    init(_ schema: ObjectSchema) {
        precondition(schema.fields.count <= 64, "a mapping schema has at most 64 fields")
        self.schema = schema
        self.names = ByteNames(schema.fields.map(\.name))
        self.fieldNames = schema.fields.map(\.name)
        var mask: UInt64 = 0
        for (index, field) in schema.fields.enumerated() where field.required { mask |= 1 << UInt64(index) }
        self.requiredMask = mask
    }

    func index(of key: UnsafeBufferPointer<UInt8>) -> Int? { names.index(of: key) }

    static let document = FieldTable(ManifestSchema.document)
    static let metadata = FieldTable(ManifestSchema.metadata)
    static let instanceSpec = FieldTable(ManifestSchema.instanceSpec)
    static let sendingPath = FieldTable(ManifestSchema.sendingPath)
    static let addressPrefixSpec = FieldTable(ManifestSchema.addressPrefixSpec)
    static let waveSpec = FieldTable(ManifestSchema.waveSpec)
    static let window = FieldTable(ManifestSchema.window)
    static let notice = FieldTable(ManifestSchema.notice)
    static let canary = FieldTable(ManifestSchema.canary)
    static let policySpec = FieldTable(ManifestSchema.policySpec)
    static let noticeLeadTime = FieldTable(ManifestSchema.noticeLeadTime)
    static let tenantSpec = FieldTable(ManifestSchema.tenantSpec)
}

/// Names as byte buffers allocated once and never freed (they belong to static tables), so
/// looking one up copies nothing and counts no reference.
struct ByteNames: @unchecked Sendable {
    private let names: UnsafeBufferPointer<UnsafeBufferPointer<UInt8>>

    init(_ strings: [String]) {
        let names = UnsafeMutableBufferPointer<UnsafeBufferPointer<UInt8>>.allocate(capacity: max(strings.count, 1))
        for (index, string) in strings.enumerated() {
            let bytes = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(string.utf8.count, 1))
            _ = bytes.initialize(from: string.utf8)
            names[index] = UnsafeBufferPointer(start: bytes.baseAddress, count: string.utf8.count)
        }
        self.names = UnsafeBufferPointer(start: names.baseAddress, count: strings.count)
    }

    var count: Int { names.count }

    /// The position of the name equal to `key`, if any.
    func index(of key: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let base = key.baseAddress else {
            for index in names.indices where names[index].isEmpty { return index }
            return nil
        }
        for index in names.indices {
            let name = names[index]
            if name.count == key.count && memcmp(name.baseAddress!, base, key.count) == 0 { return index }
        }
        return nil
    }
}

/// Enumeration values matched against raw scalar bytes.
struct ByteTable<Value: Sendable>: @unchecked Sendable {
    let names: ByteNames
    let values: UnsafeBufferPointer<Value>

    init(entries: [(String, Value)]) {
        names = ByteNames(entries.map(\.0))
        let values = UnsafeMutableBufferPointer<Value>.allocate(capacity: max(entries.count, 1))
        _ = values.initialize(from: entries.map(\.1))
        self.values = UnsafeBufferPointer(start: values.baseAddress, count: entries.count)
    }

    func match(_ bytes: UnsafeBufferPointer<UInt8>) -> Value? {
        names.index(of: bytes).map { values[$0] }
    }
}

/// A manifest enum the decoder reads from bytes.
protocol ManifestEnumeration: RawRepresentable, CaseIterable, Sendable where RawValue == String {
    static var byteTable: ByteTable<Self> { get }
}

extension ManifestEnumeration {
    static func makeByteTable() -> ByteTable<Self> {
        ByteTable(entries: allCases.map { ($0.rawValue, $0) })
    }
}

extension ManifestKind: ManifestEnumeration { static let byteTable = makeByteTable() }
extension Product: ManifestEnumeration { static let byteTable = makeByteTable() }
extension Hosting: ManifestEnumeration { static let byteTable = makeByteTable() }
extension Environment: ManifestEnumeration { static let byteTable = makeByteTable() }
extension Infrastructure: ManifestEnumeration { static let byteTable = makeByteTable() }
extension VerificationFailurePolicy: ManifestEnumeration { static let byteTable = makeByteTable() }
extension ApprovalPolicy: ManifestEnumeration { static let byteTable = makeByteTable() }
