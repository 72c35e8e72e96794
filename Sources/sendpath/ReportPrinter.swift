import Foundation
import SendpathCore

/// Renders reports: a plan table grouped by wave and cut-over group, or one JSON object.
enum ReportPrinter {
    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
    }

    /// A report as JSON, written to stdout as it is produced (``ReportJSONWriter``).
    static func streamJSON(_ report: ReconcileReport) {
        ReportJSONWriter.write(report) { StandardStreams.out(bytes: $0) }
    }

    static func text(_ report: ReconcileReport, fleet: Fleet, title: String) -> String {
        var all = ""
        text(report, fleet: fleet, title: title) { all += $0 }
        return all
    }

    /// The plan table, handed to `write` a group at a time.
    static func text(_ report: ReconcileReport, fleet: Fleet, title: String, write: (String) -> Void) {
        var out = "\(title) at \(report.at.secondsDescription)\(report.dryRun ? " (dry run: nothing was changed)" : "")\n"
        // Positions, not copies, of each group's members.
        var byGroup: [String: [Int]] = [:]
        for (index, instance) in report.instances.enumerated() { byGroup[instance.group, default: []].append(index) }
        let groupsByWave = Dictionary(grouping: report.groups, by: \.wave)
        for waveName in groupsByWave.keys.sorted() {
            guard let wave = fleet.wave(named: waveName) else { continue }
            out += "\nWave \(wave.name): window \(wave.window.start) to \(wave.window.end), maxParallel \(wave.maxParallel)\n"
            for group in groupsByWave[waveName]!.sorted(by: { $0.id < $1.id }) {
                let members = (byGroup[group.id] ?? []).map { report.instances[$0] }
                guard let first = members.first else { continue }
                var heading = "  Group \(group.id): \(group.status.rawValue)"
                if let code = first.reasonCode { heading += " (\(code.rawValue))" }
                if [.pending, .inProgress].contains(group.status) {
                    heading += ", about \(ManifestDuration.formatEstimate(Duration(jsonSeconds: group.expectedDurationSeconds) ?? .zero))"
                }
                out += heading + "\n"
                let rows = members.map { [$0.name, $0.current?.description ?? "unknown", $0.target.description, $0.status.rawValue] }
                out += table(header: ["INSTANCE", "CURRENT", "TARGET", "STATUS"], rows: rows, indent: "    ")
                if !first.steps.isEmpty {
                    let steps = first.steps.map { step -> String in
                        let name = step.rollback == true ? "rollback:\(step.name.rawValue)" : step.name.rawValue
                        return step.state == .pending ? name : "\(name) [\(step.state.rawValue)]"
                    }
                    out += "    steps: \(steps.joined(separator: " → "))\n"
                }
                if let reason = first.reason { out += "    reason: \(Escaped.line(reason))\n" }
                for member in members {
                    guard let messages = member.messages else { continue }
                    out += "    \(member.name): \(messages.resent) queued messages resent"
                    if messages.expired > 0 {
                        out += ", \(messages.expired) expired (older than the resend age limit, not sent): \(Escaped.line(messages.expiredMessageIDs.joined(separator: ", ")))"
                    }
                    out += "\n"
                }
                if out.utf8.count >= 1 << 16 {
                    write(out)
                    out = ""
                }
            }
        }
        let summary = InstanceStatus.allCases.compactMap { status in
            report.summary[status.rawValue].map { "\($0) \(status.rawValue)" }
        }
        out += "\nSummary: \(summary.isEmpty ? "no instances" : summary.joined(separator: ", ")). \(report.outcomeLine)\n"
        write(out)
    }

    /// A plain table with columns padded to their widest cell.
    static func table(header: [String], rows: [[String]], indent: String) -> String {
        var out = ""
        table(header: header, count: rows.count, row: { rows[$0] }, indent: indent) { out += $0 }
        return out
    }

    /// The same table from `count` rows made on demand, handed to `write` in pieces of about
    /// 64 KiB: one pass measures the columns, a second lays the rows out, and no row is kept.
    static func table(header: [String], count: Int, row: (Int) -> [String], indent: String, write: (String) -> Void) {
        // Cells are values from manifests, stores and providers: escaped and cut, one line each.
        var widths = header.map(\.count)
        for index in 0..<count {
            for (column, cell) in row(index).enumerated() { widths[column] = max(widths[column], Escaped.value(cell).count) }
        }
        var out = ""
        func line(_ cells: [String]) {
            out += indent
            for (index, cell) in cells.enumerated() {
                out += cell
                if index < cells.count - 1 { out += String(repeating: " ", count: widths[index] + 2 - cell.count) }
            }
            out += "\n"
            if out.utf8.count >= 1 << 16 {
                write(out)
                out = ""
            }
        }
        line(header.map { Escaped.value($0) })
        for index in 0..<count { line(row(index).map { Escaped.value($0) }) }
        if !out.isEmpty { write(out) }
    }
}
