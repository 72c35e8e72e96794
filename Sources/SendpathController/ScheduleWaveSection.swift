import SendpathCore

/// One wave's part of the schedule page: its facts (window, notice, deadline, order, bake),
/// its groups laid out in the window as they would run from its start (in batches of
/// `maxParallel`, as its notice estimates), and a row per group. Above the aggregation
/// threshold, counts per status and reason instead, and only the groups needing attention.
struct ScheduleWaveSection {
    let wave: Schedule.WaveLine
    let at: Timestamp
    let aggregateAbove: Int

    /// Statuses a person should look at, listed even in an aggregated wave.
    static let attention: Set<InstanceStatus> = [.held, .rolledBack, .failed, .inProgress]

    func html() -> String {
        let name = ScheduleHTML.escape(wave.name)
        var out = "<section class=\"wave\" id=\"wave-\(name)\" data-wave=\"\(name)\" data-groups=\"\(wave.groups.count)\">\n"
        out += "<h2>Wave \(name)</h2>\n"
        out += facts()
        if wave.groups.count > aggregateAbove {
            out += aggregate()
        } else {
            out += strip()
            out += Self.table(wave.groups)
        }
        out += "</section>\n"
        return out
    }

    func facts() -> String {
        let window = wave.window
        var out = "<div class=\"facts\">\n"
        out += "<span>window <b>\(ScheduleHTML.time(window.start))</b> to <b>\(ScheduleHTML.time(window.end))</b> UTC "
        out += "(\(ManifestDuration.format(window.end - window.start)))</span>\n"
        let deadline = "deadline \(ScheduleHTML.time(wave.noticeDeadline)) (\(ManifestDuration.format(wave.leadTime)) lead, \(wave.leadEnvironment.rawValue))"
        if let notice = wave.notice {
            let ok = !notice.late && !notice.stale
            out += "<span class=\"notice\">notice: <b class=\"\(ok ? "ok" : "bad")\">\(ScheduleHTML.noticeText(notice))</b>; \(deadline)</span>\n"
        } else {
            out += "<span class=\"notice\">notice: <b class=\"bad\">none yet</b>; \(deadline)</span>\n"
        }
        let after = wave.after.isEmpty ? "none" : wave.after.map { ScheduleHTML.escape($0) }.joined(separator: ", ")
        out += "<span>after: <b>\(after)</b></span>\n"
        for bake in wave.bakes {
            out += "<span class=\"\(bake.until > window.start ? "bad" : "")\">\(ScheduleHTML.bakeText(bake))</span>\n"
        }
        out += "<span>maxParallel \(wave.maxParallel) · \(wave.groups.count) \(wave.groups.count == 1 ? "group" : "groups") · "
        out += "\(wave.instances) instances</span>\n"
        let needed = projectedEnd() - window.start, length = window.end - window.start
        out += "<span class=\"\(needed > length ? "bad" : "")\">the groups need about <b>\(ManifestDuration.formatEstimate(needed))</b> "
        out += "from the window's start\(needed > length ? ", more than the window" : "")</span>\n</div>\n"
        return out
    }

    // MARK: The window, group by group

    /// Each group's start and end if the wave ran from its window's start, by the model its
    /// notice announces (`DurationEstimator.wave`): the longest groups first, in batches of
    /// `maxParallel`, each batch as long as its longest group. O(n log n) for any fleet.
    func slots() -> [(lane: Int, start: Timestamp, end: Timestamp)] {
        let groups = wave.groups, width = max(1, wave.maxParallel)
        let order = groups.indices.sorted { a, b in
            groups[a].expectedDuration != groups[b].expectedDuration ? groups[a].expectedDuration > groups[b].expectedDuration : a < b
        }
        var slots = [(lane: Int, start: Timestamp, end: Timestamp)](repeating: (0, wave.window.start, wave.window.start), count: groups.count)
        var batchStart = wave.window.start
        var position = 0
        while position < order.count {
            let batch = order[position..<min(position + width, order.count)]
            for (lane, index) in batch.enumerated() { slots[index] = (lane, batchStart, batchStart + groups[index].expectedDuration) }
            // Sorted longest first: the batch lasts as long as its first group.
            batchStart = batchStart + groups[batch.first!].expectedDuration
            position += width
        }
        return slots
    }

    func projectedEnd() -> Timestamp { slots().map(\.end).max() ?? wave.window.start }

    func strip() -> String {
        let slots = slots()
        let lanes = (slots.map(\.lane).max() ?? 0) + 1
        let length = max((wave.window.end - wave.window.start).seconds, 1)
        func percent(_ time: Timestamp) -> String { ScheduleHTML.number((time - wave.window.start).seconds / length * 100) }
        var out = "<div class=\"strip\" style=\"height:\(lanes * 20 + 4)px\" title=\"the window, with the groups as they would run from its start\">\n"
        for (group, slot) in zip(wave.groups, slots) {
            let width = max((slot.end - slot.start).seconds / length * 100, 0.8)
            out += "<div class=\"slot s-\(group.status.rawValue)\" style=\"left:\(percent(slot.start))%;top:\(slot.lane * 20 + 3)px;"
            // Named where there is room for a name; the table below names every group.
            let label = width >= 6 ? ScheduleHTML.escape(group.id) : ""
            out += "width:\(ScheduleHTML.number(width))%\" title=\"\(ScheduleHTML.escape(Self.hover(group)))\">\(label)</div>\n"
        }
        if at >= wave.window.start && at <= wave.window.end {
            out += "<div class=\"now\" style=\"left:\(percent(at))%\" title=\"now\"></div>\n"
        }
        out += "</div>\n"
        return out
    }

    // MARK: Rows

    static func table(_ groups: [Schedule.GroupLine]) -> String {
        var out = "<table class=\"groups\">\n<thead><tr><th>status</th><th>group</th><th>instances</th><th>expected</th>"
        out += "<th>reason or step</th></tr></thead>\n<tbody>\n"
        for group in groups { out += row(group) }
        out += "</tbody>\n</table>\n"
        return out
    }

    static func row(_ group: Schedule.GroupLine) -> String {
        let status = group.status.rawValue
        var out = "<tr class=\"group\" data-group=\"\(ScheduleHTML.escape(group.id))\" data-status=\"\(status)\""
        out += " title=\"\(ScheduleHTML.escape(hover(group)))\">"
        out += "<td><span class=\"badge s-\(status)\">\(status)</span></td><td>\(ScheduleHTML.escape(group.id))</td>"
        out += "<td title=\"\(ScheduleHTML.escape(group.instances.joined(separator: ", ")))\">\(group.instances.count)</td>"
        out += "<td>about \(ManifestDuration.formatEstimate(group.expectedDuration))</td>"
        out += "<td class=\"detail\">\(ScheduleHTML.escape(detail(group)))</td></tr>\n"
        return out
    }

    /// The reason (with its code), or the step in progress, or the cut-over.
    static func detail(_ group: Schedule.GroupLine) -> String {
        var parts: [String] = []
        if let step = group.step { parts.append("at \(step)") }
        if let code = group.reasonCode { parts.append(code.rawValue + (group.reason.map { ": \($0)" } ?? "")) }
        else if let reason = group.reason { parts.append(reason) }
        if parts.isEmpty, let cutover = group.cutover { parts.append("cut-over \(cutover)") }
        return parts.joined(separator: "; ")
    }

    /// What a hover shows: the group, its status and the whole reason or step.
    static func hover(_ group: Schedule.GroupLine) -> String {
        var text = "\(group.id): \(group.status.rawValue), about \(ManifestDuration.formatEstimate(group.expectedDuration))"
        let detail = detail(group)
        if !detail.isEmpty { text += " — " + detail }
        return text
    }

    // MARK: Many groups

    func aggregate() -> String {
        var counts: [InstanceStatus: Int] = [:]
        var reasons: [ReasonCode: Int] = [:]
        for group in wave.groups {
            counts[group.status, default: 0] += 1
            if group.status == .blocked, let code = group.reasonCode { reasons[code, default: 0] += 1 }
        }
        let total = Double(wave.groups.count)
        var out = "<div class=\"aggregate\" data-groups=\"\(wave.groups.count)\">\n<div class=\"stack\">"
        for status in InstanceStatus.allCases {
            guard let count = counts[status] else { continue }
            out += "<div class=\"s-\(status.rawValue)\" style=\"width:\(ScheduleHTML.number(Double(count) / total * 100))%\" "
            out += "title=\"\(count) \(status.rawValue)\"></div>"
        }
        out += "</div>\n<ul class=\"counts\">\n"
        for status in InstanceStatus.allCases {
            guard let count = counts[status] else { continue }
            out += "<li class=\"chip\" data-status=\"\(status.rawValue)\" data-count=\"\(count)\"><span class=\"swatch s-\(status.rawValue)\">"
            out += "</span>\(status.rawValue) <b>\(count)</b></li>\n"
        }
        out += "</ul>\n"
        if !reasons.isEmpty {
            let sorted = reasons.sorted { ($1.value, $0.key.rawValue) < ($0.value, $1.key.rawValue) }
            out += "<p class=\"reasons\">blocked by: " + sorted.map { "\($0.key.rawValue) <b>\($0.value)</b>" }.joined(separator: ", ") + "</p>\n"
        }
        let attention = wave.groups.filter { Self.attention.contains($0.status) }
        if !attention.isEmpty {
            out += "<h3>Needing attention</h3>\n" + Self.table(Array(attention.prefix(aggregateAbove)))
            if attention.count > aggregateAbove {
                out += "<p class=\"more\">and \(attention.count - aggregateAbove) more (see status --output json)</p>\n"
            }
        }
        out += "<p class=\"more\">\(wave.groups.count) groups, more than \(aggregateAbove): shown as counts.</p>\n</div>\n"
        return out
    }
}
