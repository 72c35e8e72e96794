import SendpathCore
import Foundation

/// An ``ObjectSchema`` prepared for the decoder's hot path: field names as bytes, so keys
/// are matched without building strings, and the required fields as a bit mask.
final class FieldTable: Sendable {
    let schema: ObjectSchema
    let names: [[UInt8]]
    let fieldNames: [String]
    let requiredMask: UInt64

    init(_ schema: ObjectSchema) {
        precondition(schema.fields.count <= 64, "a mapping schema has at most 64 fields")
        self.schema = schema
        self.names = schema.fields.map { Array($0.name.utf8) }
        self.fieldNames = schema.fields.map(\.name)
        var mask: UInt64 = 0
        for (index, field) in schema.fields.enumerated() where field.required { mask |= 1 << UInt64(index) }
        self.requiredMask = mask
    }

    func index(of key: UnsafeBufferPointer<UInt8>) -> Int? {
        for index in names.indices {
            let name = names[index]
            if bytesEqual(name, key) {
                return index
            }
        }
        return nil
    }

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

/// Enumeration values matched against raw scalar bytes.
struct ByteTable<Value: Sendable>: Sendable {
    let entries: [([UInt8], Value)]

    func match(_ bytes: UnsafeBufferPointer<UInt8>) -> Value? {
        for (name, value) in entries where bytesEqual(name, bytes) { return value }
        return nil
    }
}

/// A manifest enum the decoder reads from bytes.
protocol ManifestEnumeration: RawRepresentable, CaseIterable, Sendable where RawValue == String {
    static var byteTable: ByteTable<Self> { get }
}

extension ManifestEnumeration {
    static func makeByteTable() -> ByteTable<Self> {
        ByteTable(entries: allCases.map { (Array($0.rawValue.utf8), $0) })
    }
}

extension ManifestKind: ManifestEnumeration { static let byteTable = makeByteTable() }
extension Product: ManifestEnumeration { static let byteTable = makeByteTable() }
extension Hosting: ManifestEnumeration { static let byteTable = makeByteTable() }
extension Environment: ManifestEnumeration { static let byteTable = makeByteTable() }
extension Infrastructure: ManifestEnumeration { static let byteTable = makeByteTable() }
extension VerificationFailurePolicy: ManifestEnumeration { static let byteTable = makeByteTable() }
extension ApprovalPolicy: ManifestEnumeration { static let byteTable = makeByteTable() }

/// Whether a byte array and a buffer hold the same bytes.
@inline(__always)
func bytesEqual(_ array: [UInt8], _ buffer: UnsafeBufferPointer<UInt8>) -> Bool {
    guard array.count == buffer.count else { return false }
    guard let base = buffer.baseAddress, !array.isEmpty else { return array.isEmpty }
    return array.withUnsafeBufferPointer { memcmp($0.baseAddress!, base, array.count) == 0 }
}
