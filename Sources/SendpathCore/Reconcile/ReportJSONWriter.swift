/// Writes a ``ReconcileReport`` as JSON in chunks, as it goes: the same bytes as
/// `JSONEncoder` with `[.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]` makes of it,
/// without building the whole document (at 100,000 instances it is over 100 MB).
///
/// A group's steps are the same for each of its members: they are laid out once per group and
/// copied for each member. Keys are written in sorted order here, so a new field of a report
/// type needs its line below (the tests compare with `JSONEncoder`).
public enum ReportJSONWriter {
    /// Calls `sink` with chunks of about `chunkSize` bytes, in order; the last one ends with `"\n"`.
    public static func write(_ report: ReconcileReport, chunkSize: Int = 1 << 16,
                             to sink: ([UInt8]) throws -> Void) rethrows {
        var json = PrettyJSONWriter(capacity: chunkSize + 4096)
        json.beginObject()
        json.key("at")
        json.string(report.at.description)
        json.key("dryRun")
        json.bool(report.dryRun)
        if let errors = report.errors {
            json.key("errors")
            json.beginArray()
            for error in errors { json.string(error) }
            json.endArray()
        }
        json.key("exitCode")
        json.integer(Int(report.exitCode))
        json.key("groups")
        json.beginArray()
        for group in report.groups {
            write(group, to: &json)
            if let chunk = json.drain(if: chunkSize) { try sink(chunk) }
        }
        json.endArray()
        json.key("instances")
        json.beginArray()
        // The first row here; the rest in blocks laid out on the cores side by side, each half by a
        // writer continuing this one's layout, and written in order.
        var shared = SharedSteps()
        if let first = report.instances.first { write(first, shared: &shared, to: &json) }
        var start = 1
        let count = report.instances.count
        while start < count {
            let end = min(count, start + 2 * Self.rowsPerBlock)
            let from = json.continuation()
            let halves = OrderedChunks.map(count: 2, minimumPerChunk: 1) { [start] half -> [UInt8] in
                let range = (half == 0 ? start : (start + end) / 2)..<(half == 0 ? (start + end) / 2 : end)
                var writer = from
                var shared = SharedSteps()
                for index in range { write(report.instances[index], shared: &shared, to: &writer) }
                return writer.bytes
            }
            for bytes in halves {
                json.append(continued: bytes)
                if let chunk = json.drain(if: chunkSize) { try sink(chunk) }
            }
            start = end
        }
        json.endArray()
        json.key("outcome")
        json.string(report.outcome.rawValue)
        json.key("summary")
        json.beginObject()
        for key in report.summary.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            json.key(key)
            json.integer(report.summary[key]!)
        }
        json.endObject()
        if let suspensions = report.suspensions {
            json.key("suspensions")
            json.beginArray()
            for record in suspensions { write(record, to: &json) }
            json.endArray()
        }
        json.endObject()
        json.raw(Array("\n".utf8))
        if let chunk = json.drain() { try sink(chunk) }
    }

    /// Rows laid out by each side of a block: a few MB of JSON, so a block's bytes stay small.
    static let rowsPerBlock = 4096

    /// The whole document as one string (small reports: the controller's `/status`, tests).
    public static func string(_ report: ReconcileReport) -> String {
        var all: [UInt8] = []
        write(report) { all += $0 }
        return String(decoding: all, as: UTF8.self)
    }

    /// The last steps and paths laid out, and their bytes: the same for a group's members.
    struct SharedSteps {
        var steps: [StepReport]?
        var bytes: [UInt8] = []
        var paths: [(path: SendingPath, bytes: [UInt8])] = []

        /// A path as laid out before, or laid out now and kept (the last two: current and target).
        mutating func write(_ path: SendingPath, to json: inout PrettyJSONWriter) {
            if let known = paths.first(where: { $0.path == path }) {
                json.raw(known.bytes)
                return
            }
            let bytes = json.captured { ReportJSONWriter.write(path, to: &$0) }
            paths = [(path, bytes)] + paths.prefix(1)
        }
    }

    static func write(_ group: ReconcileReport.GroupSummary, to json: inout PrettyJSONWriter) {
        json.beginObject()
        if let cutover = group.cutover {
            json.key("cutover")
            json.string(cutover)
        }
        json.key("expectedDurationSeconds")
        json.number(group.expectedDurationSeconds)
        json.key("id")
        json.string(group.id)
        json.key("instances")
        json.beginArray()
        for name in group.instances { json.string(name) }
        json.endArray()
        json.key("status")
        json.string(group.status.rawValue)
        json.key("wave")
        json.string(group.wave)
        json.endObject()
    }

    static func write(_ instance: InstanceReport, shared: inout SharedSteps, to json: inout PrettyJSONWriter) {
        json.beginObject()
        json.key("current")
        if let current = instance.current { shared.write(current, to: &json) } else { json.null() }
        json.key("group")
        json.string(instance.group)
        if let journal = instance.journal {
            json.key("journal")
            write(journal, to: &json)
        }
        if let messages = instance.messages {
            json.key("messages")
            json.beginObject()
            json.key("expired")
            json.integer(messages.expired)
            json.key("expiredMessageIDs")
            json.beginArray()
            for id in messages.expiredMessageIDs { json.string(id) }
            json.endArray()
            json.key("resent")
            json.integer(messages.resent)
            json.endObject()
        }
        json.key("name")
        json.string(instance.name)
        if let observed = instance.observed {
            json.key("observed")
            write(observed, to: &json)
        }
        json.key("reason")
        json.string(instance.reason)
        json.key("reasonCode")
        json.string(instance.reasonCode?.rawValue)
        json.key("status")
        json.string(instance.status.rawValue)
        json.key("steps")
        if shared.steps == instance.steps {
            json.raw(shared.bytes)
        } else {
            shared.steps = instance.steps
            shared.bytes = json.captured { json in write(instance.steps, to: &json) }
        }
        json.key("target")
        shared.write(instance.target, to: &json)
        json.key("wave")
        json.string(instance.wave)
        json.endObject()
    }

    static func write(_ steps: [StepReport], to json: inout PrettyJSONWriter) {
        json.beginArray()
        for step in steps {
            json.beginObject()
            if let duration = step.durationSeconds {
                json.key("durationSeconds")
                json.number(duration)
            }
            json.key("name")
            json.string(step.name.rawValue)
            if let rollback = step.rollback {
                json.key("rollback")
                json.bool(rollback)
            }
            json.key("state")
            json.string(step.state.rawValue)
            json.endObject()
        }
        json.endArray()
    }

    static func write(_ path: SendingPath, to json: inout PrettyJSONWriter) {
        json.beginObject()
        json.key("infrastructure")
        json.string(path.infrastructure.rawValue)
        json.key("location")
        json.string(path.location)
        json.endObject()
    }

    static func write(_ observed: ObservedSummary, to json: inout PrettyJSONWriter) {
        json.beginObject()
        json.key("build")
        json.string(observed.build)
        json.key("buildMatchesManifest")
        json.bool(observed.buildMatchesManifest)
        json.key("frozen")
        json.bool(observed.frozen)
        json.key("ipsMatchManifest")
        json.bool(observed.ipsMatchManifest)
        json.key("queueDepth")
        json.integer(observed.queueDepth)
        json.key("sendingIPs")
        json.beginArray()
        for address in observed.sendingIPs { json.string(address.description) }
        json.endArray()
        json.endObject()
    }

    static func write(_ journal: JournalSummary, to json: inout PrettyJSONWriter) {
        json.beginObject()
        json.key("cutover")
        json.string(journal.cutover)
        if let finished = journal.finishedAt {
            json.key("finishedAt")
            json.string(finished.description)
        }
        if let holder = journal.holder {
            json.key("holder")
            json.string(holder)
        }
        if let phase = journal.lastPhase {
            json.key("lastPhase")
            json.string(phase.rawValue)
        }
        if let step = journal.lastStep {
            json.key("lastStep")
            json.string(step)
        }
        json.key("outcome")
        json.string(journal.outcome)
        if let reason = journal.reason {
            json.key("reason")
            json.string(reason)
        }
        json.key("startedAt")
        json.string(journal.startedAt.description)
        json.endObject()
    }

    static func write(_ record: ControlRecord, to json: inout PrettyJSONWriter) {
        json.beginObject()
        json.key("at")
        json.string(record.at.description)
        json.key("by")
        json.string(record.by)
        if let cutover = record.cutover {
            json.key("cutover")
            json.integer(cutover)
        }
        if let group = record.group {
            json.key("group")
            json.string(group)
        }
        json.key("kind")
        json.string(record.kind.rawValue)
        if let reason = record.reason {
            json.key("reason")
            json.string(reason)
        }
        if let wave = record.wave {
            json.key("wave")
            json.string(wave)
        }
        json.endObject()
    }
}
