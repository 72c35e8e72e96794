public import SendpathCore
import GRDB

extension FleetSimulator {
    /// Adds the instances and prefixes of `fleet` the simulator does not know yet; returns how
    /// many instances were added. Known ones are left exactly as they are (a changed manifest
    /// is drift for the reconciler to see, not something seeding hides).
    ///
    /// A new instance runs on `adobe-dc` with its declared IPs and build: at its declared
    /// location when its target is on `adobe-dc`, else at ``defaultSite``. Its queue is
    /// deterministic (the same fleet gives the same queue on every machine): 5 to 24 messages
    /// `<instance>/m<k>` with ages spread evenly from 1 minute to 120 hours, so that some are
    /// older than the default 84h resend limit. A new prefix is advertised from where the first
    /// (by name) of its instances runs. A new instance whose IPs lie in a prefix known before
    /// becomes one of its instances: a move of the prefix without it is refused, and if the
    /// prefix was moved away before, ``InvariantReport/unroutedInstances`` names it.
    /// Whether seeding from `fleet` would add something (one read).
    public func knowsAll(of fleet: Fleet) async throws(ProviderError) -> Bool {
        do {
            return try await pool.read { db in
                try Self.holdsAll(sortedNames: fleet.instances.lazy.map(\.name), db: db, sql: "SELECT name FROM instance ORDER BY name")
                    && Set(try String.fetchAll(db, sql: "SELECT cidr FROM prefix")).isSuperset(of: fleet.prefixes.map(\.cidr.value.description))
            }
        } catch {
            throw Self.storeError(error)
        }
    }

    public func seed(from fleet: Fleet) async throws(ProviderError) -> Int {
        // Usually everything is known already (every run seeds): find out with one read, before
        // working out queues and prefix memberships for the whole fleet.
        if try await knowsAll(of: fleet) { return 0 }
        return try await seedUnknown(from: fleet)
    }

    /// Whether a table's names, read in `ORDER BY name` order (SQLite's binary collation, which
    /// for UTF-8 is Swift's `String` order), include every one of `sortedNames` (ascending, as
    /// ``Fleet/instances`` are): a merge of the two sorted lists, with no set of 100,000 names.
    /// Names out of that order answer false, and seeding then adds only what is missing.
    static func holdsAll(sortedNames: some Sequence<String>, db: Database, sql: String) throws -> Bool {
        let stored = try String.fetchCursor(db, sql: sql)
        var current = try stored.next()
        for name in sortedNames {
            while let have = current, have < name { current = try stored.next() }
            guard current == name else { return false }
        }
        return true
    }

    /// ``seed(from:)`` once ``knowsAll(of:)`` said something is missing.
    public func seedUnknown(from fleet: Fleet) async throws(ProviderError) -> Int {
        let instances = fleet.instances.map { instance in
            let target = instance.sendingPath.value
            return SeedInstance(name: instance.name, start: target.infrastructure == .adobeDC ? target : Self.defaultSite,
                                ips: instance.declaredIPs, build: instance.build)
        }
        // Each prefix's instances, found by masking every IP to each prefix length in use.
        let lengths = Set(fleet.prefixes.map(\.cidr.value.length))
        var members: [AddressBlock: [String]] = Dictionary(uniqueKeysWithValues: fleet.prefixes.map { ($0.cidr.value, []) })
        for instance in fleet.instances {
            let blocks = instance.declaredIPs.flatMap { ip in
                lengths.filter { $0 <= ip.bitWidth }.map { AddressBlock(network: ip, length: $0) }
            }
            for block in Set(blocks) where members[block] != nil {
                members[block]?.append(instance.name)
            }
        }
        let prefixes = fleet.prefixes.map { (cidr: $0.cidr.value, members: (members[$0.cidr.value] ?? []).sorted()) }
        let added: Int
        do {
            added = try await insertUnknown(instances, prefixes: prefixes)
        } catch {
            throw Self.storeError(error)
        }
        logger.info("fleet simulator: seeded", metadata: ["instances.added": "\(added)", "instances.declared": "\(instances.count)"])
        return added
    }

    private func insertUnknown(_ instances: [SeedInstance], prefixes: [(cidr: AddressBlock, members: [String])]) async throws -> Int {
        try await pool.write { db in
            let tx = FleetTransaction(db: db, now: self.clock.now())
            let known = Set(try String.fetchAll(db, sql: "SELECT name FROM instance"))
            let insertMessage = try db.makeStatement(sql: "INSERT INTO message (id, instance, ageSeconds, state) VALUES (?, ?, ?, 'queued')")
            var added = 0
            var addedNames: [SeedInstance] = []
            for instance in instances where !known.contains(instance.name) {
                try tx.insertInstance(name: instance.name, path: instance.start, declaredIPs: instance.ips, build: instance.build)
                let queue = Self.seedQueue(for: instance.name)
                for message in queue {
                    try insertMessage.execute(arguments: [message.id, instance.name, message.ageSeconds])
                }
                try db.execute(sql: "UPDATE instance SET queued = ? WHERE name = ?", arguments: [queue.count, instance.name])
                try tx.recordSeededQueue(of: instance.name)
                addedNames.append(instance)
                added += 1
            }
            let knownPrefixes = Set(try String.fetchAll(db, sql: "SELECT cidr FROM prefix"))
            let insertMember = try db.makeStatement(sql: "INSERT OR IGNORE INTO membership (instance, cidr) VALUES (?, ?)")
            for prefix in prefixes where !knownPrefixes.contains(prefix.cidr.description) {
                try tx.insertPrefix(prefix.cidr)
                for member in prefix.members { try insertMember.execute(arguments: [member, prefix.cidr.description]) }
                let place = try prefix.members.first.flatMap { try tx.instances([$0])[$0]?.path } ?? Self.defaultSite
                try tx.advertise(prefix.cidr, from: place)
            }
            // A new instance whose IPs lie in a prefix known before moves with it (or is seen not to).
            try self.addMemberships(addedNames.map { ($0.name, $0.ips) }, in: tx)
            return added
        }
    }

    /// Adds the membership rows of these instances in every known prefix holding one of their IPs.
    private func addMemberships(_ instances: [(name: String, ips: [IPAddress])], in tx: FleetTransaction) throws {
        guard !instances.isEmpty else { return }
        let known = Set(try String.fetchAll(tx.db, sql: "SELECT cidr FROM prefix").map(FleetTransaction.block))
        let lengths = Set(known.map(\.length))
        for instance in instances {
            let blocks = Set(instance.ips.flatMap { ip in lengths.filter { $0 <= ip.bitWidth }.map { AddressBlock(network: ip, length: $0) } })
            for block in blocks.intersection(known).sorted() {
                try tx.execute("INSERT OR IGNORE INTO membership (instance, cidr) VALUES (?, ?)", [instance.name, block.description])
            }
        }
    }

    /// The queue an instance is seeded with: ids and ages (not times, so a snapshot taken at
    /// any clock time finds some messages older than 84h). Like a real MTA queue, most messages
    /// are young: ages grow with the cube of their rank, from 1 minute to 120 hours, so about
    /// one in nine is past the default 84h resend age limit.
    static func seedQueue(for instance: String) -> [(id: String, ageSeconds: Int64)] {
        let count = 5 + Int(FNV1a.hash(instance) % 20)
        let youngest: Int64 = 60, oldest: Int64 = 120 * 3600
        return (1...count).map { k in
            let rank = Double(k - 1) / Double(count - 1)
            return (id: "\(instance)/m\(k)", ageSeconds: youngest + Int64(Double(oldest - youngest) * rank * rank * rank))
        }
    }
}

/// An instance as seeding adds it.
private struct SeedInstance: Sendable {
    var name: String
    var start: SendingPath
    var ips: [IPAddress]
    var build: String
}
