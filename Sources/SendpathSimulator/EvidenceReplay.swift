import GRDB
import SendpathCore

/// Replays the fleet file's log (`event`, in the order things happened) and counts the
/// breaches it shows: what was advertised where at each moment, who was frozen, where each
/// instance was, and against that every delivery.
///
/// Deliveries with no recorded place (logged before the fleet file had a log) are counted as
/// deliveries only.
struct EvidenceReplay {
    private(set) var doubleAdvertisements = 0
    private(set) var gaps = 0
    private(set) var sendsByPath: [String: Int] = [:]
    private(set) var sendsWithoutRoute = 0
    private(set) var sendsFromUndeclaredIPs = 0
    private(set) var sendsWhileFrozen = 0
    private(set) var sendsDuringPathChange = 0
    private(set) var movesWhileSending = 0

    /// Each instance's declared IPs and the prefixes they lie in.
    private var declared: [String: Set<IPAddress>] = [:]
    private var prefixesOf: [String: [String]] = [:]
    private var membersOf: [String: [String]] = [:]
    private var knownPrefixes: Set<AddressBlock> = []
    private var prefixLengths: Set<Int> = []

    // The world as the log has built it so far.
    private var advertised: [String: Set<String>] = [:]
    private var frozen: Set<String> = []
    private var place: [String: String] = [:]
    private var doubled: Set<String> = []
    private var withdrawnAt: [String: Int64] = [:]
    private var changing: [String: Bool] = [:]
    private var prefixesOfIPs: [String: [String]] = [:]

    static func run(_ db: Database) throws -> EvidenceReplay {
        var replay = EvidenceReplay()
        for row in try Row.fetchAll(db, sql: "SELECT name, declaredIPs FROM instance") {
            replay.declared[row["name"]] = Set(try FleetTransaction.ips(row["declaredIPs"]))
        }
        for row in try Row.fetchAll(db, sql: "SELECT instance, cidr FROM membership ORDER BY instance, cidr") {
            replay.prefixesOf[row["instance"], default: []].append(row["cidr"])
            replay.membersOf[row["cidr"], default: []].append(row["instance"])
        }
        replay.knownPrefixes = Set(try String.fetchAll(db, sql: "SELECT cidr FROM prefix").map(FleetTransaction.block))
        replay.prefixLengths = Set(replay.knownPrefixes.map(\.length))
        let events = try Row.fetchCursor(db, sql: """
            SELECT at, kind, instance, cidr, infrastructure, location, ips, cause FROM event
            WHERE kind NOT IN ('enqueue', 'expire') ORDER BY id
            """)
        while let row = try events.next() {
            try replay.apply(row)
        }
        // Advertised from two places now, whatever the log says (a file edited by hand).
        replay.doubled.formUnion(try String.fetchAll(db, sql: "SELECT cidr FROM advertisement GROUP BY cidr HAVING count(*) > 1"))
        replay.doubleAdvertisements = replay.doubled.count
        // Known prefixes with members advertised from nowhere now: a gap that is still open.
        let unadvertised = try String.fetchAll(db, sql: """
            SELECT DISTINCT m.cidr FROM membership m WHERE NOT EXISTS (SELECT 1 FROM advertisement a WHERE a.cidr = m.cidr)
            """)
        replay.gaps += unadvertised.count
        return replay
    }

    private mutating func apply(_ row: Row) throws {
        let at: Int64 = row["at"]
        let kind: String = row["kind"]
        let instance: String? = row["instance"]
        let cidr: String? = row["cidr"]
        let infrastructure: String? = row["infrastructure"], location: String? = row["location"]
        let where_ = infrastructure.flatMap { infrastructure in location.map { "\(infrastructure)/\($0)" } }
        switch kind {
        case "announce":
            guard let cidr, let where_ else { return }
            advertised[cidr, default: []].insert(where_)
            if advertised[cidr]!.count > 1 { doubled.insert(cidr) }
            if let since = withdrawnAt.removeValue(forKey: cidr), at > since { gaps += 1 }
            changing[cidr] = nil
        case "withdraw":
            guard let cidr, let where_ else { return }
            advertised[cidr, default: []].remove(where_)
            if advertised[cidr]!.isEmpty { withdrawnAt[cidr] = at }
            changing[cidr] = nil
        case "freeze":
            if let instance { frozen.insert(instance) }
        case "unfreeze":
            if let instance { frozen.remove(instance) }
        case "place", "move":
            guard let instance, let where_ else { return }
            if kind == "move", !frozen.contains(instance) { movesWhileSending += 1 }
            place[instance] = where_
            for cidr in prefixesOf[instance] ?? [] { changing[cidr] = nil }
        case "deliver":
            guard let instance, let where_, let text: String = row["ips"] else { return }
            sendsByPath[where_, default: 0] += 1
            let ips = try FleetTransaction.ips(text)
            if let declared = declared[instance], Set(ips) != declared { sendsFromUndeclaredIPs += 1 }
            if prefixes(of: ips, text).contains(where: { !(advertised[$0] ?? []).contains(where_) }) { sendsWithoutRoute += 1 }
            let cause: String = row["cause"] ?? ""
            if frozen.contains(instance), !cause.hasPrefix("resend:") { sendsWhileFrozen += 1 }
            if (prefixesOf[instance] ?? []).contains(where: { isChanging($0) }) { sendsDuringPathChange += 1 }
        default:
            return
        }
    }

    /// The known prefixes holding any of these IPs (cached per IP list).
    private mutating func prefixes(of ips: [IPAddress], _ text: String) -> [String] {
        if let known = prefixesOfIPs[text] { return known }
        let blocks = Set(ips.flatMap { ip in prefixLengths.filter { $0 <= ip.bitWidth }.map { AddressBlock(network: ip, length: $0) } })
        let result = blocks.intersection(knownPrefixes).map(\.description).sorted()
        prefixesOfIPs[text] = result
        return result
    }

    /// A prefix is changing place while it is not advertised from exactly one place, or some
    /// instance sending from it is somewhere else.
    private mutating func isChanging(_ cidr: String) -> Bool {
        if let known = changing[cidr] { return known }
        let places = advertised[cidr] ?? []
        let result = places.count != 1 || (membersOf[cidr] ?? []).contains { member in
            place[member].map { !places.contains($0) } ?? false
        }
        changing[cidr] = result
        return result
    }
}
