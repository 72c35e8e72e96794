public import SendpathCore

/// Renders a ``Schedule`` as one self-contained HTML page: inline CSS and SVG, no script and
/// no external asset, so it works offline, as a CI artifact and from the controller's `/`.
///
/// The page: a header with the outcome and the instances per status; the calendar
/// (``ScheduleTimeline``); then per wave its facts and its cut-over groups, each with its
/// status (a colour and a word), expected duration, reason (also on hover) or current step.
/// A wave with more groups than ``aggregateAbove`` shows counts per status and reason, and
/// lists only the groups that need attention. Every string that comes from manifests, the
/// store or a provider is escaped (control characters as in text output, then HTML).
public enum ScheduleHTML {
    /// Waves with more groups than this are shown as counts.
    public static let aggregateAbove = 40

    /// The page. `refreshSeconds` adds a meta refresh (the controller's live page).
    public static func page(_ schedule: Schedule, refreshSeconds: Int? = nil, aggregateAbove: Int = ScheduleHTML.aggregateAbove) -> String {
        var out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        if let refreshSeconds { out += "<meta http-equiv=\"refresh\" content=\"\(refreshSeconds)\">\n" }
        out += "<title>Sendpath schedule: \(escape(schedule.title)) at \(time(schedule.at)) UTC</title>\n"
        out += "<style>\n\(css)</style>\n</head>\n<body>\n"
        out += header(schedule, refreshSeconds: refreshSeconds)
        out += "<section class=\"calendar\">\n<h2>Calendar</h2>\n"
        if schedule.waves.isEmpty {
            out += "<p class=\"empty\">No wave in scope.</p>\n"
        } else {
            out += ScheduleTimeline(schedule).svg()
            out += "<p class=\"key\"><span class=\"k-deadline\"></span> notice deadline (window start minus the lead time) "
            out += "<span class=\"k-notice\"></span> notice sent (red: late or stale) <span class=\"k-bake\"></span> non-production bakes until "
            out += "<span class=\"k-after\"></span> after <span class=\"k-now\"></span> now</p>\n"
        }
        out += "</section>\n"
        for wave in schedule.waves { out += ScheduleWaveSection(wave: wave, at: schedule.at, aggregateAbove: aggregateAbove).html() }
        if !schedule.unplaced.isEmpty {
            out += "<section class=\"wave\" data-wave=\"\">\n<h2>Cut-overs of waves no longer in the manifests</h2>\n"
            out += ScheduleWaveSection.table(schedule.unplaced)
            out += "</section>\n"
        }
        out += "<footer>Made by sendpath \(escape(SendpathVersion.current)). Times in UTC.</footer>\n</body>\n</html>\n"
        return out
    }

    static func header(_ schedule: Schedule, refreshSeconds: Int?) -> String {
        var out = "<header>\n<h1>Sendpath schedule</h1>\n<p class=\"subtitle\">\(escape(schedule.title)) at \(time(schedule.at)) UTC"
        if schedule.dryRun && schedule.title != "Status" { out += " (dry run: nothing was changed)" }
        if let refreshSeconds { out += " · refreshes every \(refreshSeconds)s" }
        out += "</p>\n<p class=\"outcome o-\(schedule.outcome.rawValue)\" data-outcome=\"\(schedule.outcome.rawValue)\">"
        out += "Outcome: <b>\(schedule.outcome.rawValue)</b> (exit \(schedule.exitCode))</p>\n"
        out += "<ul class=\"summary\">\n"
        for status in InstanceStatus.allCases {
            let count = schedule.summary[status] ?? 0
            out += "<li class=\"chip s-\(status.rawValue)\(count == 0 ? " zero" : "")\" data-status=\"\(status.rawValue)\" data-count=\"\(count)\">"
            out += "<span class=\"swatch s-\(status.rawValue)\"></span>\(status.rawValue) <b>\(count)</b></li>\n"
        }
        out += "</ul>\n<p class=\"hint\">Instances per status. Hover a group for its reason.</p>\n</header>\n"
        return out
    }

    // MARK: Text for people

    static func noticeText(_ notice: Schedule.Notice) -> String {
        var text = "notice sent \(time(notice.sentAt)) UTC (\(notice.recorded ? "recorded by sendpath notify" : "declared in the manifest"))"
        if notice.late { text += ", after the deadline" }
        if notice.stale { text += ", stale: the window or the instances changed since" }
        return text
    }

    static func bakeText(_ bake: Schedule.Bake) -> String {
        "tenant \(escape(bake.tenant)) non-production bakes until \(time(bake.until)) UTC"
            + (bake.projected ? " (projected: from the end of its window; not migrated yet)" : "")
    }

    /// `2023-10-14 20:00` (UTC, to the minute).
    static func time(_ time: Timestamp) -> String {
        let text = time.secondsDescription
        return String(text.prefix(10)) + " " + String(text.dropFirst(11).prefix(5))
    }

    /// One decimal, no exponent.
    static func number(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        guard rounded.isFinite, abs(rounded) < 1e12 else { return "0" }
        let tenths = Int64(rounded * 10)
        let sign = tenths < 0 ? "-" : ""
        let whole = abs(tenths) / 10, fraction = abs(tenths) % 10
        return fraction == 0 ? "\(sign)\(whole)" : "\(sign)\(whole).\(fraction)"
    }

    /// A name cut to `limit` characters for a narrow place (the full name is in a title).
    static func cut(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }

    // MARK: Escaping

    /// A value from outside (a name, a reason) for HTML text or a quoted attribute: control
    /// characters escaped and long values cut as in text output, then `& < > " '` as entities.
    public static func escape(_ text: some StringProtocol, limit: Int = Escaped.lineLimit) -> String {
        let safe = Escaped.escape(text, limit: limit)
        var out = ""
        out.reserveCapacity(safe.utf8.count)
        for scalar in safe.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    // MARK: Style

    /// One colour per status; the class `s-<status>` colours chips, bars and rows alike.
    public static let statusColours: [InstanceStatus: String] = [
        .inSync: "#94a3b8", .pending: "#2563eb", .blocked: "#d97706", .inProgress: "#7c3aed",
        .migrated: "#16a34a", .rolledBack: "#dc2626", .held: "#be185d", .failed: "#7f1d1d",
    ]

    static let css: String = {
        var css = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1240px;color:#1e293b;background:#fff;padding:0 16px}
        h1{font-size:22px;margin:0}h2{font-size:17px;margin:0 0 6px}
        .subtitle{margin:2px 0 8px;color:#475569}
        .outcome{display:inline-block;margin:0 0 8px;padding:2px 10px;border-radius:12px;background:#e2e8f0}
        .o-converged{background:#dcfce7}.o-waiting,.o-changes-pending{background:#fef3c7}.o-rolled-back,.o-held,.o-error{background:#fee2e2}
        ul.summary{list-style:none;padding:0;margin:0;display:flex;flex-wrap:wrap;gap:6px}
        .chip{padding:2px 8px;border-radius:10px;background:#f1f5f9!important;color:#1e293b}
        .chip.zero{opacity:.55}
        .swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
        .hint,.key,footer{color:#64748b;font-size:12px}
        section{margin-top:22px}
        svg.timeline{width:100%;height:auto;border:1px solid #e2e8f0;border-radius:6px;background:#fff}
        svg .grid{stroke:#e2e8f0}svg .tick{font-size:11px;fill:#64748b;text-anchor:middle}svg .tick.start{text-anchor:start}
        svg .band{fill:#f8fafc}svg .wave-name{font-size:13px;font-weight:600;fill:#0f172a}
        svg .lead{stroke:#cbd5e1;stroke-width:3}
        svg .deadline{stroke:#d97706;stroke-width:2;stroke-dasharray:3 2}svg .deadline.missing{stroke:#dc2626;stroke-dasharray:none}
        svg .notice.ok{fill:#16a34a;stroke:#fff}svg .notice.bad{fill:#dc2626;stroke:#fff}
        svg .bake{fill:#64748b}svg .bake.late{fill:#dc2626}
        svg .window{fill:none;stroke:#0f172a;stroke-width:1}
        svg .window-label{font-size:11px;fill:#334155}
        svg .after{fill:none;stroke:#475569;stroke-width:1.3}
        svg .now line{stroke:#e11d48;stroke-width:2}svg .now-text{font-size:11px;fill:#e11d48;font-weight:600}svg .now-text.end{text-anchor:end}
        .key span{display:inline-block;width:14px;height:10px;margin:0 3px 0 10px;vertical-align:-1px}
        .k-deadline{border-left:2px dashed #d97706}.k-notice{background:#16a34a;border-radius:50%;width:10px!important}
        .k-bake{border-top:8px solid #64748b;border-left:6px solid transparent;border-right:6px solid transparent;width:0!important;height:0!important}
        .k-after{border-top:2px solid #475569;height:0!important}.k-now{border-left:2px solid #e11d48}
        section.wave{border:1px solid #e2e8f0;border-radius:6px;padding:12px 14px}
        .facts{display:flex;flex-wrap:wrap;gap:4px 18px;margin:0 0 10px;color:#334155;font-size:13px}
        .facts b{color:#0f172a}.bad{color:#dc2626}.ok{color:#15803d}
        .strip{position:relative;background:#f1f5f9;border:1px solid #cbd5e1;border-radius:4px;margin:4px 0 10px;overflow:hidden}
        .strip .slot{position:absolute;height:16px;border-radius:3px;color:#fff;font-size:11px;line-height:16px;padding:0 4px;box-sizing:border-box;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
        .strip .now{position:absolute;top:0;bottom:0;width:2px;background:#e11d48}
        table.groups{border-collapse:collapse;width:100%;font-size:13px}
        table.groups th{text-align:left;color:#64748b;font-weight:500;border-bottom:1px solid #e2e8f0;padding:3px 6px}
        table.groups td{border-bottom:1px solid #f1f5f9;padding:3px 6px;vertical-align:top}
        td.detail{max-width:520px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;color:#475569}
        .badge{display:inline-block;min-width:82px;text-align:center;padding:0 6px;border-radius:9px;color:#fff;font-size:12px}
        .stack{display:flex;height:18px;border-radius:4px;overflow:hidden;margin:4px 0 8px;background:#f1f5f9}
        ul.counts{list-style:none;padding:0;margin:0 0 8px;display:flex;flex-wrap:wrap;gap:6px}
        .more{color:#64748b;font-size:12px}
        footer{margin-top:24px}

        """
        for status in InstanceStatus.allCases {
            let colour = statusColours[status]!
            css += ".s-\(status.rawValue){background:\(colour);fill:\(colour)}\n"
        }
        return css
    }()
}
