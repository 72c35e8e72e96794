import Foundation
import GRDB
import SendpathCore

/// An instance row: the simulator's truth about one instance.
struct InstanceRow: Sendable {
    var name: String
    var path: SendingPath
    var frozen: Bool
    /// The IPs and build it was seeded with (what the manifests declared then).
    var declaredIPs: [IPAddress]
    var build: String
    var prepared: SendingPath?
    var fencingToken: Int64
    /// Messages waiting in its queue.
    var queued: Int
}

/// A stored row the simulator cannot read back: the file was changed by something else.
struct CorruptFleetFile: Error, CustomStringConvertible {
    var description: String
}

/// Reads and writes of the fleet model inside one database access (one transaction for
/// every mutating call). Valid only during the GRDB closure it was made in.
struct FleetTransaction {
    let db: Database
    /// The wall-clock instant of the call.
    let now: Timestamp

    // MARK: Instances

    /// Rows for these names (absent when unknown). Many names are read in one scan.
    func instances(_ names: [String]) throws -> [String: InstanceRow] {
        guard !names.isEmpty else { return [:] }
        var result: [String: InstanceRow] = [:]
        result.reserveCapacity(names.count)
        if names.count > Self.chunk {
            // Read the whole table; a fleet file holding exactly these names (the usual case)
            // needs no set of them to filter by.
            let rows = try Row.fetchCursor(db.cachedStatement(sql: "SELECT \(Self.columns) FROM instance"))
            while let row = try rows.next() {
                let instance = try Self.instance(row)
                result[instance.name] = instance
            }
            if result.count != names.count || names.contains(where: { result[$0] == nil }) {
                let wanted = Set(names)
                result = result.filter { wanted.contains($0.key) }
            }
            return result
        }
        let rows = try Row.fetchCursor(db.cachedStatement(sql: "SELECT \(Self.columns) FROM instance WHERE name IN (\(databaseQuestionMarks(count: names.count)))"),
                                       arguments: StatementArguments(names))
        while let row = try rows.next() {
            let instance = try Self.instance(row)
            result[instance.name] = instance
        }
        return result
    }

    /// The instance columns, in the order ``instance(_:)`` reads them by index.
    static let columns = "name, infrastructure, location, frozen, declaredIPs, build, preparedInfrastructure, preparedLocation, fencingToken, queued"

    /// Above this many names, read whole tables rather than bind every name.
    static let chunk = 500

    /// The observations of many instances in a few queries: rows, queue depths, overrides.
    func observations(_ names: [String]) throws -> [String: ObservedInstance] {
        let rows = try instances(names)
        guard !rows.isEmpty else { return [:] }
        var overrides: [String: [(path: SendingPath, ips: [IPAddress]?, build: String?)]] = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM override")) {
            let ips: String? = row["ips"]
            overrides[row["instance"], default: []].append((try Self.path(row["infrastructure"], row["location"]), try ips.map(Self.ips), row["build"]))
        }
        return rows.mapValues { instance in
            // Usually there is no override at all: no lookup per instance then.
            let here = overrides.isEmpty ? nil : overrides[instance.name]?.first { $0.path == instance.path }
            return ObservedInstance(name: instance.name, path: instance.path, frozen: instance.frozen,
                                    sendingIPs: here?.ips ?? instance.declaredIPs, build: here?.build ?? instance.build,
                                    queueDepth: instance.queued, preparedTarget: instance.prepared)
        }
    }

    /// Instances whose declared IPs lie in any of these prefixes.
    func members(of cidrs: [AddressBlock]) throws -> Set<String> {
        guard !cidrs.isEmpty else { return [] }
        return Set(try String.fetchAll(db.cachedStatement(sql: "SELECT DISTINCT instance FROM membership WHERE cidr IN (\(databaseQuestionMarks(count: cidrs.count)))"),
                                       arguments: StatementArguments(cidrs.map(\.description))))
    }

    /// The prefixes holding an instance's declared IPs, with where each is advertised from.
    func prefixes(of instance: String) throws -> [AddressBlock: [SendingPath]] {
        var result: [AddressBlock: [SendingPath]] = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: """
            SELECT m.cidr, a.infrastructure, a.location FROM membership m LEFT JOIN advertisement a ON a.cidr = m.cidr
            WHERE m.instance = ? ORDER BY m.cidr, a.infrastructure, a.location
            """), arguments: [instance]) {
            let block = try Self.block(row["cidr"])
            if let infrastructure: String = row["infrastructure"], let location: String = row["location"] {
                result[block, default: []].append(try Self.path(infrastructure, location))
            } else {
                result[block] = result[block] ?? []
            }
        }
        return result
    }

    /// Reads a row selected with ``columns`` (by index: name lookups cost more than the rest).
    private static func instance(_ row: Row) throws -> InstanceRow {
        let prepared: SendingPath?
        if let infrastructure: String = row[6], let location: String = row[7] {
            prepared = try path(infrastructure, location)
        } else {
            prepared = nil
        }
        return InstanceRow(name: row[0], path: try path(row[1], row[2]), frozen: row[3],
                           declaredIPs: try ips(row[4]), build: row[5], prepared: prepared, fencingToken: row[8], queued: row[9])
    }

    static func path(_ infrastructure: String, _ location: String) throws -> SendingPath {
        guard let value = Infrastructure(rawValue: infrastructure) else {
            throw CorruptFleetFile(description: "unknown infrastructure '\(infrastructure)' in the fleet file")
        }
        return SendingPath(infrastructure: value, location: location)
    }

    /// A comma-separated list (empty items skipped), parsed from its bytes: a whole fleet's
    /// observation reads 100,000 of them, so no substring or string is made per address.
    static func ips(_ text: String) throws -> [IPAddress] {
        var text = text
        return try text.withUTF8 { bytes in
            var addresses: [IPAddress] = []
            var start = 0
            for end in 0...bytes.count where end == bytes.count || bytes[end] == UInt8(ascii: ",") {
                defer { start = end + 1 }
                guard end > start else { continue }
                let item = UnsafeBufferPointer(rebasing: bytes[start..<end])
                guard let address = IPAddress(utf8Bytes: item) else {
                    throw CorruptFleetFile(description: "bad IP '\(String(decoding: item, as: UTF8.self))' in the fleet file")
                }
                addresses.append(address)
            }
            return addresses
        }
    }

    static func text(_ ips: [IPAddress]) -> String { ips.map(\.description).joined(separator: ",") }

    /// Runs one statement, prepared once per connection and then reused: every call runs the
    /// same few statements.
    func execute(_ sql: String, _ arguments: StatementArguments) throws {
        try db.cachedStatement(sql: sql).execute(arguments: arguments)
    }

    func insertInstance(name: String, path: SendingPath, declaredIPs: [IPAddress], build: String) throws {
        try execute("""
            INSERT INTO instance (name, infrastructure, location, declaredIPs, build) VALUES (?, ?, ?, ?, ?)
            """, [name, path.infrastructure.rawValue, path.location, Self.text(declaredIPs), build])
        try recordEvent(.place, instance: name, at: path)
    }

    func setPrepared(_ name: String, _ path: SendingPath) throws {
        try execute("UPDATE instance SET preparedInfrastructure = ?, preparedLocation = ? WHERE name = ?",
                    [path.infrastructure.rawValue, path.location, name])
    }

    /// Raises the stored fencing token of each instance and prefix to `token` (never lowers it).
    func raiseTokens(instances: [String], prefixes: [AddressBlock], to token: Int64) throws {
        if !instances.isEmpty {
            try execute("UPDATE instance SET fencingToken = max(fencingToken, ?) WHERE name IN (\(databaseQuestionMarks(count: instances.count)))",
                        StatementArguments([token]) + StatementArguments(instances))
        }
        if !prefixes.isEmpty {
            try execute("UPDATE prefix SET fencingToken = max(fencingToken, ?) WHERE cidr IN (\(databaseQuestionMarks(count: prefixes.count)))",
                        StatementArguments([token]) + StatementArguments(prefixes.map(\.description)))
        }
    }

    // MARK: Overrides (what a fault left misconfigured at one location)

    func override(of name: String, at path: SendingPath) throws -> (ips: [IPAddress]?, build: String?) {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT ips, build FROM override WHERE instance = ? AND infrastructure = ? AND location = ?"),
                                         arguments: [name, path.infrastructure.rawValue, path.location]) else { return (nil, nil) }
        let ips: String? = row["ips"]
        return (try ips.map(Self.ips), row["build"])
    }

    func setOverride(of name: String, at path: SendingPath, ips: [IPAddress]? = nil, build: String? = nil) throws {
        try execute("""
            INSERT INTO override (instance, infrastructure, location, ips, build) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (instance, infrastructure, location)
            DO UPDATE SET ips = coalesce(excluded.ips, ips), build = coalesce(excluded.build, build)
            """, [name, path.infrastructure.rawValue, path.location, ips.map(Self.text), build])
    }

    /// The IPs the instance sends from now: the declared ones, unless a fault changed them here.
    func currentIPs(_ instance: InstanceRow) throws -> [IPAddress] {
        try override(of: instance.name, at: instance.path).ips ?? instance.declaredIPs
    }

    func currentBuild(_ instance: InstanceRow) throws -> String {
        try override(of: instance.name, at: instance.path).build ?? instance.build
    }

    // MARK: Prefixes

    /// Every known prefix and where it is advertised from.
    func prefixes() throws -> [AddressBlock: [SendingPath]] {
        var result: [AddressBlock: [SendingPath]] = [:]
        for cidr in try String.fetchAll(db.cachedStatement(sql: "SELECT cidr FROM prefix")) {
            result[try Self.block(cidr)] = []
        }
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM advertisement ORDER BY infrastructure, location")) {
            result[try Self.block(row["cidr"]), default: []].append(try Self.path(row["infrastructure"], row["location"]))
        }
        return result
    }

    func prefixTokens(_ cidrs: [AddressBlock]) throws -> [AddressBlock: Int64] {
        guard !cidrs.isEmpty else { return [:] }
        var result: [AddressBlock: Int64] = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT cidr, fencingToken FROM prefix WHERE cidr IN (\(databaseQuestionMarks(count: cidrs.count)))"),
                                    arguments: StatementArguments(cidrs.map(\.description))) {
            result[try Self.block(row["cidr"])] = row["fencingToken"]
        }
        return result
    }

    static func block(_ text: String) throws -> AddressBlock {
        guard case .success(let block) = AddressBlock.parse(text) else {
            throw CorruptFleetFile(description: "bad CIDR '\(text)' in the fleet file")
        }
        return block
    }

    func insertPrefix(_ cidr: AddressBlock) throws {
        try execute("INSERT INTO prefix (cidr) VALUES (?)", [cidr.description])
    }

    // MARK: Records

    func recordViolation(_ kind: ViolationKind, instance: String, _ detail: String) throws {
        try execute("INSERT INTO violation (kind, instance, detail, at) VALUES (?, ?, ?, ?)",
                    [kind.rawValue, instance, detail, now.nanosecondsSinceEpoch])
    }

    func logCall(_ call: MutationCall, outcome: String, detail: String? = nil) throws {
        try execute("""
            INSERT INTO call (at, operation, step, idempotencyKey, fencingToken, instances, outcome, detail)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, [now.nanosecondsSinceEpoch, call.operation.rawValue, call.context.step.rawValue,
                  call.context.idempotencyKey, call.context.fencingToken.value,
                  call.instances.joined(separator: ","), outcome, detail])
    }

    func idempotencyRecord(_ key: String) throws -> (operation: String, request: String, response: Data)? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT operation, request, response FROM idempotency WHERE key = ?"),
                                         arguments: [key]) else { return nil }
        return (row["operation"], row["request"], row["response"])
    }

    func storeIdempotencyRecord(_ call: MutationCall, response: Data) throws {
        try execute("INSERT INTO idempotency (key, operation, request, response, recordedAt) VALUES (?, ?, ?, ?, ?)",
                    [call.context.idempotencyKey, call.operation.rawValue, call.request, response, now.nanosecondsSinceEpoch])
    }

    func faultUses(_ rule: String) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT used FROM faultUse WHERE rule = ?"), arguments: [rule]) ?? 0
    }

    func consumeFault(_ rule: String) throws {
        try execute("INSERT INTO faultUse (rule, used) VALUES (?, 1) ON CONFLICT (rule) DO UPDATE SET used = used + 1", [rule])
    }
}
