import SendpathCore

/// The schedule page's calendar: one inline SVG with a UTC time axis and one row per wave —
/// the notice lead (from the deadline to the window), the notice sent, the window as a bar
/// split by the statuses of its groups, the bake it waits for, arrows for `after`, and a
/// line at "now".
struct ScheduleTimeline {
    let schedule: Schedule
    static let width = 1200.0
    static let labelWidth = 190.0
    static let rightMargin = 170.0
    static let axisHeight = 40.0
    static let rowHeight = 38.0

    /// The time the axis starts and ends at, and where "now" is (nil when far off the axis).
    let start: Timestamp
    let end: Timestamp
    let now: Timestamp?

    init(_ schedule: Schedule) {
        self.schedule = schedule
        var times: [Timestamp] = []
        for wave in schedule.waves {
            times += [wave.window.start, wave.window.end, wave.noticeDeadline]
            if let notice = wave.notice { times.append(notice.sentAt) }
            times += wave.bakes.map(\.until)
        }
        var low = times.min() ?? schedule.at, high = times.max() ?? schedule.at
        // "now" joins the axis when it is near; far off, an arrow at the edge points to it.
        let span = max(high - low, .seconds(86_400))
        if schedule.at >= low - span / 2 && schedule.at <= high + span / 2 {
            low = min(low, schedule.at)
            high = max(high, schedule.at)
            now = schedule.at
        } else {
            now = nil
        }
        let pad = max((high - low) / 40, .seconds(3600))
        start = low - pad
        end = high + pad
    }

    var plotWidth: Double { Self.width - Self.labelWidth - Self.rightMargin }

    func x(_ time: Timestamp) -> Double {
        let total = (end - start).seconds
        return Self.labelWidth + (time - start).seconds / max(total, 1) * plotWidth
    }

    func y(row: Int) -> Double { Self.axisHeight + Double(row) * Self.rowHeight + Self.rowHeight / 2 }

    func svg() -> String {
        let height = Self.axisHeight + Double(max(schedule.waves.count, 1)) * Self.rowHeight + 16
        var out = "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(n(Self.width)) \(n(height))\" "
        out += "role=\"img\" aria-label=\"Waves on a time axis (UTC)\">\n"
        out += "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" "
        out += "orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#475569\"/></marker></defs>\n"
        out += axis(height: height)
        let rows = Dictionary(schedule.waves.enumerated().map { ($1.name, $0) }) { first, _ in first }
        for (row, wave) in schedule.waves.enumerated() { out += self.row(wave, row: row) }
        out += arrows(rows: rows)
        out += nowLine(height: height)
        out += "</svg>\n"
        return out
    }

    // MARK: Axis

    /// Tick steps to choose from: the smallest that gives at most ten ticks.
    static let steps: [Int64] = [3600, 7200, 10_800, 21_600, 43_200, 86_400, 172_800, 604_800, 1_209_600, 2_419_200,
                                 4_838_400, 7_862_400, 15_724_800, 31_449_600]

    func axis(height: Double) -> String {
        let first = start.secondsSinceEpoch, last = end.secondsSinceEpoch
        let step: Int64 = Self.steps.first(where: { (last - first) / $0 <= 10 }) ?? 31_449_600
        var out = "<g class=\"axis\">\n"
        var tick = (first / step + 1) * step
        while tick <= last {
            let time = Timestamp(secondsSinceEpoch: tick)
            let at = x(time)
            let text = time.secondsDescription
            // `2023-10-14`, or `10-14 06:00` for ticks within a day.
            let label = step >= 86_400 ? String(text.prefix(10)) : String(text.dropFirst(5).prefix(11).map { $0 == "T" ? " " : $0 })
            out += "<line x1=\"\(n(at))\" y1=\"\(n(Self.axisHeight - 8))\" x2=\"\(n(at))\" y2=\"\(n(height - 8))\" class=\"grid\"/>"
            out += "<text x=\"\(n(at))\" y=\"\(n(Self.axisHeight - 14))\" class=\"tick\">\(label)</text>\n"
            tick += step
        }
        out += "<text x=\"8\" y=\"\(n(Self.axisHeight - 14))\" class=\"tick start\">UTC</text>\n</g>\n"
        return out
    }

    // MARK: Rows

    func row(_ wave: Schedule.WaveLine, row: Int) -> String {
        let center = y(row: row)
        let name = ScheduleHTML.escape(wave.name)
        var out = "<g class=\"wave-row\" data-wave=\"\(name)\">\n"
        out += "<title>\(name): window \(ScheduleHTML.time(wave.window.start)) to \(ScheduleHTML.time(wave.window.end)) UTC, "
        out += "\(wave.groups.count) groups, \(wave.instances) instances</title>\n"
        if row % 2 == 1 {
            out += "<rect x=\"0\" y=\"\(n(center - Self.rowHeight / 2))\" width=\"\(n(Self.width))\" height=\"\(n(Self.rowHeight))\" class=\"band\"/>\n"
        }
        out += "<text x=\"8\" y=\"\(n(center + 4))\" class=\"wave-name\">\(ScheduleHTML.escape(ScheduleHTML.cut(wave.name, 24)))</text>\n"
        // The notice lead: from the deadline to the window's start.
        let deadline = x(wave.noticeDeadline), opens = x(wave.window.start)
        out += "<line x1=\"\(n(deadline))\" y1=\"\(n(center))\" x2=\"\(n(opens))\" y2=\"\(n(center))\" class=\"lead\">"
        out += "<title>notice lead time \(ManifestDuration.format(wave.leadTime)) (\(wave.leadEnvironment.rawValue))</title></line>\n"
        let missing = wave.notice == nil
        out += "<line x1=\"\(n(deadline))\" y1=\"\(n(center - 9))\" x2=\"\(n(deadline))\" y2=\"\(n(center + 9))\" "
        out += "class=\"deadline\(missing ? " missing" : "")\"><title>notice deadline \(ScheduleHTML.time(wave.noticeDeadline)) UTC"
        out += missing ? ": no notice yet</title></line>\n" : "</title></line>\n"
        if let notice = wave.notice {
            let ok = !notice.late && !notice.stale
            out += "<circle cx=\"\(n(x(notice.sentAt)))\" cy=\"\(n(center))\" r=\"5\" class=\"notice \(ok ? "ok" : "bad")\">"
            out += "<title>\(ScheduleHTML.noticeText(notice))</title></circle>\n"
        }
        out += bar(wave, center: center)
        for bake in wave.bakes {
            let at = x(bake.until)
            let late = bake.until > wave.window.start
            out += "<path d=\"M\(n(at - 5)),\(n(center - 15)) L\(n(at + 5)),\(n(center - 15)) L\(n(at)),\(n(center - 8)) z\" "
            out += "class=\"bake\(late ? " late" : "")\"><title>\(ScheduleHTML.bakeText(bake))</title></path>\n"
        }
        let labelX = max(opens, x(wave.window.end)) + 10
        out += "<text x=\"\(n(labelX))\" y=\"\(n(center + 4))\" class=\"window-label\">"
        out += "\(ScheduleHTML.time(wave.window.start)) · \(ManifestDuration.format(wave.window.end - wave.window.start))</text>\n"
        out += "</g>\n"
        return out
    }

    /// The window, at least a few pixels wide, split by the statuses of its groups.
    func bar(_ wave: Schedule.WaveLine, center: Double) -> String {
        let left = x(wave.window.start)
        let width = max(x(wave.window.end) - left, 8)
        var counts: [InstanceStatus: Int] = [:]
        for group in wave.groups { counts[group.status, default: 0] += 1 }
        var out = ""
        var offset = 0.0
        for status in InstanceStatus.allCases {
            guard let count = counts[status] else { continue }
            let part = width * Double(count) / Double(max(wave.groups.count, 1))
            out += "<rect x=\"\(n(left + offset))\" y=\"\(n(center - 7))\" width=\"\(n(part))\" height=\"14\" class=\"s-\(status.rawValue)\">"
            out += "<title>\(count) \(count == 1 ? "group" : "groups") \(status.rawValue)</title></rect>\n"
            offset += part
        }
        out += "<rect x=\"\(n(left))\" y=\"\(n(center - 7))\" width=\"\(n(width))\" height=\"14\" class=\"window\"/>\n"
        return out
    }

    /// `after`: an arrow from the end of each earlier wave to the start of the later one.
    func arrows(rows: [String: Int]) -> String {
        var out = ""
        for (row, wave) in schedule.waves.enumerated() {
            for before in wave.after {
                guard let from = rows[before] else { continue }
                let earlier = schedule.waves[from]
                let x1 = max(x(earlier.window.end), x(earlier.window.start) + 8), y1 = y(row: from) + (from < row ? 7 : -7)
                let x2 = x(wave.window.start) - 1, y2 = y(row: row) + (from < row ? -7 : 7)
                let bend = max(abs(x2 - x1) / 3, 12)
                out += "<path d=\"M\(n(x1)),\(n(y1)) C\(n(x1 + bend)),\(n(y1)) \(n(x2 - bend)),\(n(y2)) \(n(x2)),\(n(y2))\" "
                out += "class=\"after\" marker-end=\"url(#arrow)\"><title>\(ScheduleHTML.escape(wave.name)) starts after "
                out += "\(ScheduleHTML.escape(before)) completes</title></path>\n"
            }
        }
        return out
    }

    func nowLine(height: Double) -> String {
        let label = "now " + ScheduleHTML.time(schedule.at)
        guard let now else {
            // Off the axis: a marker at the edge it lies beyond.
            let after = schedule.at > end
            let at = after ? Self.width - 8 : Self.labelWidth
            return "<text x=\"\(n(at))\" y=\"\(n(height - 4))\" class=\"now-text\(after ? " end" : "")\">"
                + "\(after ? "" : "◂ ")\(label)\(after ? " ▸" : "")</text>\n"
        }
        let at = x(now)
        return "<g class=\"now\"><line x1=\"\(n(at))\" y1=\"\(n(Self.axisHeight - 10))\" x2=\"\(n(at))\" y2=\"\(n(height - 4))\"/>"
            + "<text x=\"\(n(at + 4))\" y=\"\(n(height - 4))\" class=\"now-text\">\(label)</text></g>\n"
    }

    /// A coordinate with one decimal.
    func n(_ value: Double) -> String { ScheduleHTML.number(value) }
}
