import GRDB

/// The simulator file's schema, one named migration per change (GRDB's `DatabaseMigrator`).
///
/// Times are nanoseconds since the epoch; paths are stored as infrastructure and location
/// columns; IP lists as canonical addresses joined by commas.
enum FleetSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-fleet") { db in
            // Instances: where each sends from now, and the highest fencing token seen for it.
            try db.execute(sql: """
                CREATE TABLE instance (
                    name TEXT PRIMARY KEY NOT NULL,
                    infrastructure TEXT NOT NULL,
                    location TEXT NOT NULL,
                    frozen INTEGER NOT NULL DEFAULT 0,
                    declaredIPs TEXT NOT NULL,
                    build TEXT NOT NULL,
                    preparedInfrastructure TEXT,
                    preparedLocation TEXT,
                    fencingToken INTEGER NOT NULL DEFAULT 0
                ) STRICT;
                -- What a fault left misconfigured at one location (the target environment).
                CREATE TABLE override (
                    instance TEXT NOT NULL REFERENCES instance(name),
                    infrastructure TEXT NOT NULL,
                    location TEXT NOT NULL,
                    ips TEXT,
                    build TEXT,
                    PRIMARY KEY (instance, infrastructure, location)
                ) STRICT;
                CREATE TABLE prefix (
                    cidr TEXT PRIMARY KEY NOT NULL,
                    fencingToken INTEGER NOT NULL DEFAULT 0
                ) STRICT;
                CREATE TABLE advertisement (
                    cidr TEXT NOT NULL REFERENCES prefix(cidr),
                    infrastructure TEXT NOT NULL,
                    location TEXT NOT NULL,
                    PRIMARY KEY (cidr, infrastructure, location)
                ) STRICT;
                -- Every message ever enqueued; a message is in exactly one state.
                CREATE TABLE message (
                    id TEXT PRIMARY KEY NOT NULL,
                    instance TEXT NOT NULL REFERENCES instance(name),
                    ageSeconds INTEGER NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('queued', 'snapshot', 'delivered', 'expired')),
                    snapshotKey TEXT,
                    enqueuedAt INTEGER,
                    deliveries INTEGER NOT NULL DEFAULT 0
                ) STRICT;
                CREATE INDEX message_by_instance ON message(instance, state);
                CREATE INDEX message_by_snapshot ON message(snapshotKey, instance);
                CREATE TABLE idempotency (
                    key TEXT PRIMARY KEY NOT NULL,
                    operation TEXT NOT NULL,
                    request TEXT NOT NULL,
                    response BLOB NOT NULL,
                    recordedAt INTEGER NOT NULL
                ) STRICT;
                -- Every mutating call received, with how it ended.
                CREATE TABLE call (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at INTEGER NOT NULL,
                    operation TEXT NOT NULL,
                    step TEXT NOT NULL,
                    idempotencyKey TEXT NOT NULL,
                    fencingToken INTEGER NOT NULL,
                    instances TEXT NOT NULL,
                    outcome TEXT NOT NULL,
                    detail TEXT
                ) STRICT;
                CREATE TABLE violation (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    kind TEXT NOT NULL,
                    instance TEXT NOT NULL,
                    detail TEXT NOT NULL,
                    at INTEGER NOT NULL
                ) STRICT;
                CREATE TABLE faultUse (
                    rule TEXT PRIMARY KEY NOT NULL,
                    used INTEGER NOT NULL
                ) STRICT;
                """)
        }
        // Which prefixes hold each instance's declared IPs, so that a move or a send looks up
        // the few rows it needs instead of scanning the fleet.
        migrator.registerMigration("v2-membership") { db in
            try db.execute(sql: """
                CREATE TABLE membership (
                    instance TEXT NOT NULL REFERENCES instance(name),
                    cidr TEXT NOT NULL REFERENCES prefix(cidr),
                    PRIMARY KEY (instance, cidr)
                ) STRICT;
                CREATE INDEX membership_by_cidr ON membership(cidr);
                """)
            // Fleets created before this table: derive it from the declared IPs.
            let blocks = try String.fetchAll(db, sql: "SELECT cidr FROM prefix").map(FleetTransaction.block)
            for row in try Row.fetchAll(db, sql: "SELECT name, declaredIPs FROM instance") {
                let ips = try FleetTransaction.ips(row["declaredIPs"])
                for block in blocks where ips.contains(where: block.contains) {
                    try db.execute(sql: "INSERT INTO membership (instance, cidr) VALUES (?, ?)", arguments: [row["name"] as String, block.description])
                }
            }
        }
        // Each instance's queue depth, kept with the instance so observing a large fleet does
        // not count millions of message rows.
        migrator.registerMigration("v3-queue-depth") { db in
            try db.execute(sql: """
                ALTER TABLE instance ADD COLUMN queued INTEGER NOT NULL DEFAULT 0;
                UPDATE instance SET queued = (SELECT count(*) FROM message WHERE message.instance = instance.name AND state = 'queued');
                """)
        }
        // The evidence a broken invariant leaves: an append-only log of what happened to
        // messages (enqueued, delivered from which place and IPs, reported expired), to routes
        // (each announcement and withdrawal on its own) and to instances (frozen, unfrozen,
        // placed, moved). `simulator check` reads its invariants from this log. Messages
        // that arrive while their instance is frozen are `held` until it is unfrozen.
        // Late effects wait in `pendingEffect` until the next call lands them.
        migrator.registerMigration("v4-evidence") { db in
            try db.execute(sql: """
                CREATE TABLE event (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at INTEGER NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('enqueue', 'deliver', 'expire', 'announce', 'withdraw', 'freeze', 'unfreeze', 'place', 'move')),
                    instance TEXT,
                    message TEXT,
                    cidr TEXT,
                    infrastructure TEXT,
                    location TEXT,
                    ips TEXT,
                    cause TEXT
                ) STRICT;
                CREATE INDEX event_by_message ON event(message, kind) WHERE message IS NOT NULL;
                CREATE INDEX event_by_kind ON event(kind);
                ALTER TABLE message ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
                CREATE TABLE pendingEffect (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    key TEXT NOT NULL UNIQUE,
                    request BLOB NOT NULL,
                    recordedAt INTEGER NOT NULL
                ) STRICT;
                -- Each message's deliveries, read from the log.
                CREATE VIEW delivery AS
                    SELECT id, at, message, instance, infrastructure, location, ips, cause FROM event WHERE kind = 'deliver';
                -- Each advertisement of a prefix at one place: from its announcement to the next
                -- withdrawal there (open while none).
                CREATE VIEW advertisementInterval AS
                    SELECT a.cidr, a.infrastructure, a.location, a.at AS announcedAt,
                        (SELECT w.at FROM event w WHERE w.kind = 'withdraw' AND w.cidr = a.cidr
                            AND w.infrastructure = a.infrastructure AND w.location = a.location AND w.id > a.id
                            ORDER BY w.id LIMIT 1) AS withdrawnAt
                    FROM event a WHERE a.kind = 'announce';
                """)
            // Fleets created before the log: what is known now becomes its first entries, at
            // time 0. Past deliveries are known by count only: their place and IPs are unknown
            // (NULL), so no route or IP check reads them.
            try db.execute(sql: """
                INSERT INTO event (at, kind, instance, infrastructure, location)
                    SELECT 0, 'place', name, infrastructure, location FROM instance ORDER BY name;
                INSERT INTO event (at, kind, cidr, infrastructure, location)
                    SELECT 0, 'announce', cidr, infrastructure, location FROM advertisement ORDER BY cidr, infrastructure, location;
                INSERT INTO event (at, kind, instance) SELECT 0, 'freeze', name FROM instance WHERE frozen = 1 ORDER BY name;
                INSERT INTO event (at, kind, instance, message, cause)
                    SELECT coalesce(enqueuedAt, 0), 'enqueue', instance, id, 'seed' FROM message ORDER BY id;
                INSERT INTO event (at, kind, instance, message, cause)
                    SELECT 0, 'expire', instance, id, 'migrated' FROM message WHERE state = 'expired' AND deliveries = 0 ORDER BY id;
                """)
            let delivered = try Row.fetchAll(db, sql: "SELECT id, instance, deliveries FROM message WHERE deliveries > 0 ORDER BY id")
            for row in delivered {
                for _ in 0..<(row["deliveries"] as Int) {
                    try db.execute(sql: "INSERT INTO event (at, kind, instance, message, cause) VALUES (0, 'deliver', ?, ?, 'migrated')",
                                   arguments: [row["instance"] as String, row["id"] as String])
                }
            }
        }
        return migrator
    }
}
