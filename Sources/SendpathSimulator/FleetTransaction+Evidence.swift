import GRDB
import SendpathCore

/// What the simulator writes to its evidence log (the `event` table), one entry per thing that
/// happened, in the order it happened. `simulator check` computes every invariant from this log,
/// so each write of the fleet that sends, routes, freezes or moves goes through here.
extension FleetTransaction {
    /// The kinds of log entry.
    enum EventKind: String {
        case enqueue, deliver, expire, announce, withdraw, freeze, unfreeze, place, move
    }

    func recordEvent(_ kind: EventKind, instance: String? = nil, message: String? = nil, cidr: AddressBlock? = nil,
                     at path: SendingPath? = nil, ips: [IPAddress]? = nil, cause: String? = nil) throws {
        try execute("""
            INSERT INTO event (at, kind, instance, message, cidr, infrastructure, location, ips, cause)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [now.nanosecondsSinceEpoch, kind.rawValue, instance, message, cidr?.description,
                  path?.infrastructure.rawValue, path?.location, ips.map(Self.text), cause])
    }

    // MARK: Routes

    /// Announces the prefix at `path` (nothing when it is already advertised there).
    func announce(_ cidr: AddressBlock, at path: SendingPath) throws {
        let present = try Bool.fetchOne(db.cachedStatement(sql: """
            SELECT EXISTS (SELECT 1 FROM advertisement WHERE cidr = ? AND infrastructure = ? AND location = ?)
            """), arguments: [cidr.description, path.infrastructure.rawValue, path.location]) ?? false
        guard !present else { return }
        try execute("INSERT INTO advertisement (cidr, infrastructure, location) VALUES (?, ?, ?)",
                    [cidr.description, path.infrastructure.rawValue, path.location])
        try recordEvent(.announce, cidr: cidr, at: path)
    }

    /// Withdraws the prefix from `path` (nothing when it is not advertised there).
    func withdraw(_ cidr: AddressBlock, from path: SendingPath) throws {
        try execute("DELETE FROM advertisement WHERE cidr = ? AND infrastructure = ? AND location = ?",
                    [cidr.description, path.infrastructure.rawValue, path.location])
        guard db.changesCount > 0 else { return }
        try recordEvent(.withdraw, cidr: cidr, at: path)
    }

    /// Advertises the prefix from exactly `path`: withdrawn from everywhere else first, then
    /// announced there — two events, so the log never shows two places at once.
    func advertise(_ cidr: AddressBlock, from path: SendingPath) throws {
        for place in try prefixes(cidr) where place != path {
            try withdraw(cidr, from: place)
        }
        try announce(cidr, at: path)
    }

    /// Where one prefix is advertised from now.
    func prefixes(_ cidr: AddressBlock) throws -> [SendingPath] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT infrastructure, location FROM advertisement WHERE cidr = ? ORDER BY infrastructure, location"),
                         arguments: [cidr.description]).map { try Self.path($0["infrastructure"], $0["location"]) }
    }

    // MARK: Instances

    /// Sets the instances' frozen flag, logging a freeze or unfreeze for each one that changes.
    func setFrozen(_ names: [String], _ frozen: Bool) throws {
        guard !names.isEmpty else { return }
        let marks = databaseQuestionMarks(count: names.count)
        try execute("""
            INSERT INTO event (at, kind, instance)
            SELECT ?, ?, name FROM instance WHERE name IN (\(marks)) AND frozen != ? ORDER BY name
            """, StatementArguments([now.nanosecondsSinceEpoch.databaseValue, (frozen ? EventKind.freeze : .unfreeze).rawValue.databaseValue]) + StatementArguments(names) + StatementArguments([frozen]))
        try execute("UPDATE instance SET frozen = ? WHERE name IN (\(marks))",
                    StatementArguments([frozen]) + StatementArguments(names))
    }

    /// Moves the instance to `path`, logging the move when it changes place.
    func setPath(_ name: String, _ path: SendingPath) throws {
        try execute("""
            INSERT INTO event (at, kind, instance, infrastructure, location)
            SELECT ?, 'move', name, ?, ? FROM instance WHERE name = ? AND (infrastructure != ? OR location != ?)
            """, [now.nanosecondsSinceEpoch, path.infrastructure.rawValue, path.location, name, path.infrastructure.rawValue, path.location])
        try execute("UPDATE instance SET infrastructure = ?, location = ? WHERE name = ?",
                    [path.infrastructure.rawValue, path.location, name])
    }

    // MARK: Messages

    /// Logs the enqueueing of every message of the instance that has no log entry yet (after
    /// seeding its queue); `ageSeconds` back from now.
    func recordSeededQueue(of instance: String) throws {
        try execute("""
            INSERT INTO event (at, kind, instance, message, cause)
            SELECT ? - ageSeconds * 1000000000, 'enqueue', instance, id, 'seed' FROM message WHERE instance = ? ORDER BY id
            """, [now.nanosecondsSinceEpoch, instance])
    }

    /// Delivers the messages `condition` selects (with its arguments) from the instance's
    /// current place and IPs: logs each delivery, then marks them delivered. Returns how many.
    @discardableResult
    func deliver(from instance: InstanceRow, where condition: String, _ arguments: StatementArguments, cause: String) throws -> Int {
        let ips = try currentIPs(instance)
        try execute("""
            INSERT INTO event (at, kind, instance, message, infrastructure, location, ips, cause)
            SELECT ?, 'deliver', instance, id, ?, ?, ?, ? FROM message WHERE instance = ? AND \(condition) ORDER BY id
            """, [now.nanosecondsSinceEpoch, instance.path.infrastructure.rawValue, instance.path.location,
                  Self.text(ips), cause, instance.name] + arguments)
        try execute("UPDATE message SET state = 'delivered', deliveries = deliveries + 1, held = 0 WHERE instance = ? AND \(condition)",
                    StatementArguments([instance.name]) + arguments)
        return db.changesCount
    }

    /// Logs the messages `condition` selects as reported expired.
    func recordExpired(of instance: String, where condition: String, _ arguments: StatementArguments, cause: String) throws {
        try execute("""
            INSERT INTO event (at, kind, instance, message, cause)
            SELECT ?, 'expire', instance, id, ? FROM message WHERE instance = ? AND \(condition) ORDER BY id
            """, [now.nanosecondsSinceEpoch, cause, instance] + arguments)
    }
}
