import Foundation
import Testing
@testable import SendpathController
import SendpathCore
import SendpathYAML

/// The schedule page as a value-to-text function: what it shows, how it escapes, and how it
/// stays small for large fleets. (`SchedulePageCLITests` renders it in Chromium.)
@Suite("schedule page")
struct ScheduleHTMLTests {
    /// The fixture's plan inside its window, as `reconcile --dry-run --output html` makes it.
    static func plan() async throws -> Schedule {
        let fixture = try await EngineFixture()
        defer { fixture.remove() }
        let reconciler = fixture.reconciler(dryRun: true)
        let report = try await reconciler.run()
        return try await reconciler.schedule(for: report, title: "Plan")
    }

    static func group(_ id: String, _ status: InstanceStatus, reason: String? = nil, code: ReasonCode? = nil,
                      step: String? = nil) -> Schedule.GroupLine {
        Schedule.GroupLine(id: id, instances: [id + "-i1", id + "-i2"], status: status, reasonCode: code, reason: reason,
                           expectedDuration: .seconds(900), step: step, cutover: nil)
    }

    @Test func showsEveryWaveAndGroupOfThePlanWithItsStatus() async throws {
        let schedule = try await Self.plan()
        let page = ScheduleHTML.page(schedule)
        #expect(schedule.waves.map(\.name) == ["w1", "w2"])
        for wave in schedule.waves {
            #expect(page.contains("<section class=\"wave\" id=\"wave-\(wave.name)\" data-wave=\"\(wave.name)\""))
            #expect(page.contains("<g class=\"wave-row\" data-wave=\"\(wave.name)\">"))
            for group in wave.groups {
                #expect(page.contains("data-group=\"\(group.id)\" data-status=\"\(group.status.rawValue)\""))
            }
        }
        #expect(Set(schedule.waves.flatMap(\.groups).map(\.id)) == ["pfx-a", "pfx-b", "pfx-c"])
    }

    @Test func marksTheNoticeItsDeadlineAndNow() async throws {
        let schedule = try await Self.plan()
        let w1 = try #require(schedule.waves.first)
        // Production needs 30 days: the deadline is 30 days before the window opens.
        #expect(w1.leadEnvironment == .prod && w1.leadTime == .seconds(30 * 86_400))
        #expect(w1.noticeDeadline == Timestamp(rfc3339: "2023-12-17T20:00:00Z"))
        #expect(w1.notice?.sentAt == Timestamp(rfc3339: "2023-12-01T09:00:00Z") && w1.notice?.late == false)
        let page = ScheduleHTML.page(schedule)
        #expect(page.contains("notice deadline 2023-12-17 20:00 UTC"))
        #expect(page.contains("notice sent 2023-12-01 09:00 UTC"))
        #expect(page.contains("class=\"notice ok\""))
        // The plan is made inside the window: the now line is on the axis and in the window strip.
        #expect(page.contains("<g class=\"now\">"))
        #expect(page.contains("now 2024-01-16 21:00"))
        #expect(page.contains("<div class=\"now\""))
    }

    @Test func drawsAfterDependenciesAndBakes() async throws {
        var schedule = try await Self.plan()
        schedule.waves[1].after = ["w1"]
        schedule.waves[1].bakes = [Schedule.Bake(tenant: "t-c", until: schedule.waves[1].window.start + .seconds(3600), projected: true)]
        let page = ScheduleHTML.page(schedule)
        #expect(page.contains("class=\"after\" marker-end=\"url(#arrow)\"><title>w2 starts after w1 completes</title>"))
        #expect(page.contains("class=\"bake late\"><title>tenant t-c non-production bakes until 2024-01-16 21:00 UTC (projected"))
        #expect(page.contains("after: <b>w1</b>"))
    }

    @Test func everyStatusHasItsColourAndClass() async throws {
        var schedule = try await Self.plan()
        schedule.waves[0].groups = InstanceStatus.allCases.map { Self.group("g-\($0.rawValue)", $0) }
        let page = ScheduleHTML.page(schedule)
        var colours = Set<String>()
        for status in InstanceStatus.allCases {
            let colour = try #require(ScheduleHTML.statusColours[status])
            colours.insert(colour)
            #expect(page.contains(".s-\(status.rawValue){background:\(colour);fill:\(colour)}"))
            #expect(page.contains("data-group=\"g-\(status.rawValue)\" data-status=\"\(status.rawValue)\""))
            #expect(page.contains("<span class=\"badge s-\(status.rawValue)\">\(status.rawValue)</span>"))
            #expect(page.contains("<li class=\"chip s-\(status.rawValue)"))
        }
        #expect(colours.count == InstanceStatus.allCases.count, "each status has a colour of its own")
    }

    @Test func blockedShowsItsReasonOnHoverAndInProgressItsStep() async throws {
        var schedule = try await Self.plan()
        schedule.waves[0].groups = [
            Self.group("waiting", .blocked, reason: "wave 'w0' must complete first: 1 of 2 groups remain", code: .order),
            Self.group("moving", .inProgress, step: "switch-path (intent)"),
        ]
        let page = ScheduleHTML.page(schedule)
        #expect(page.contains("data-group=\"waiting\" data-status=\"blocked\" title=\"waiting: blocked, about 15m — order: wave &#39;w0&#39; must complete first: 1 of 2 groups remain\""))
        #expect(page.contains("data-group=\"moving\" data-status=\"in-progress\" title=\"moving: in-progress, about 15m — at switch-path (intent)\""))
    }

    @Test(arguments: [
        "<script>alert(1)</script>", "\"><svg onload=alert(1)>", "a&b'c", "evil\u{1B}[2J\u{202E}name\nnext",
    ])
    func escapesEveryStringFromTheManifestsAndTheStore(_ hostile: String) async throws {
        var schedule = try await Self.plan()
        schedule.waves[0].name = hostile
        schedule.waves[0].after = [hostile]
        schedule.waves[0].bakes = [Schedule.Bake(tenant: hostile, until: schedule.at, projected: false)]
        schedule.waves[0].groups = [Self.group(hostile, .blocked, reason: hostile, code: .drift)]
        schedule.waves[0].groups[0].instances = [hostile]
        schedule.unplaced = [Self.group(hostile, .held, reason: hostile, code: .held)]
        schedule.title = hostile
        let page = ScheduleHTML.page(schedule)
        for raw in ["<script>", "<svg onload", "a&b", "b'c", "\u{1B}", "\u{202E}", "name\nnext"] {
            #expect(!page.contains(raw), "\(raw.debugDescription) reached the page unescaped")
        }
        let escaped = ScheduleHTML.escape(hostile)
        #expect(page.contains(escaped))
        #expect(!escaped.contains("<") && !escaped.contains(">") && !escaped.contains("\"") && !escaped.contains("'"))
        // Every tag on the page is one the renderer writes.
        let tags = Set(page.split(separator: "<").dropFirst().map { $0.prefix { $0.isLetter || $0.isNumber || $0 == "!" || $0 == "/" } })
        let known: Set<Substring> = ["!DOCTYPE", "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "b",
                                     "ul", "li", "span", "section", "svg", "defs", "marker", "path", "g", "line", "text", "rect",
                                     "circle", "div", "table", "thead", "tbody", "tr", "th", "td", "footer"]
        #expect(tags.map { $0.hasPrefix("/") ? $0.dropFirst() : $0 }.allSatisfy { known.contains($0) }, "\(tags)")
    }

    @Test func isSelfContained() async throws {
        let page = ScheduleHTML.page(try await Self.plan())
        for outside in ["<script", "<link", "<img", "<iframe", "src=", "@import", "url(http", "href="] {
            #expect(!page.contains(outside))
        }
        // The only URL is the SVG namespace, which nothing fetches.
        #expect(page.components(separatedBy: "http").count - 1 == 1)
        #expect(page.contains("xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(!page.contains("http-equiv=\"refresh\""))
        #expect(ScheduleHTML.page(try await Self.plan(), refreshSeconds: 10).contains("<meta http-equiv=\"refresh\" content=\"10\">"))
    }

    @Test(arguments: [ScheduleHTML.aggregateAbove, ScheduleHTML.aggregateAbove + 1])
    func aggregatesAWaveAboveTheThreshold(_ count: Int) async throws {
        var schedule = try await Self.plan()
        let statuses: [InstanceStatus] = [.pending, .blocked, .blocked, .migrated]
        schedule.waves[0].groups = (0..<count).map { index in
            Self.group("g\(index)", statuses[index % statuses.count], reason: "window", code: .windowNotOpen)
        }
        schedule.waves[0].groups[7].status = .held
        let page = ScheduleHTML.page(schedule)
        let rows = page.components(separatedBy: "<tr class=\"group\"").count - 1
        let w2 = schedule.waves[1].groups.count
        if count <= ScheduleHTML.aggregateAbove {
            #expect(rows == count + w2)
            #expect(!page.contains("class=\"aggregate\""))
        } else {
            // Only the held group is listed; the rest are counts.
            #expect(rows == 1 + w2)
            #expect(page.contains("data-group=\"g7\" data-status=\"held\""))
            #expect(page.contains("<div class=\"aggregate\" data-groups=\"\(count)\">"))
            var counts: [InstanceStatus: Int] = [:]
            for group in schedule.waves[0].groups { counts[group.status, default: 0] += 1 }
            for (status, number) in counts {
                #expect(page.contains("<li class=\"chip\" data-status=\"\(status.rawValue)\" data-count=\"\(number)\">"))
            }
            #expect(page.contains("blocked by: window-not-open <b>\(counts[.blocked]!)</b>"))
        }
    }

    @Test func staysSmallForAHundredThousandGroups() async throws {
        var schedule = try await Self.plan()
        schedule.waves[0].groups = (0..<100_000).map { Self.group("g\($0)", $0 % 1000 == 0 ? .held : .blocked, code: .order) }
        let page = ScheduleHTML.page(schedule)
        // 100 held groups listed (40 of them), the rest counted: the page does not grow with the fleet.
        #expect(page.utf8.count < 60_000, "\(page.utf8.count) bytes")
        #expect(page.components(separatedBy: "<tr class=\"group\"").count - 1 == ScheduleHTML.aggregateAbove + schedule.waves[1].groups.count)
        #expect(page.contains("and 60 more"))
    }

    @Test func aWaveNeedsWhatItsNoticeAnnounces() async throws {
        var schedule = try await Self.plan()
        schedule.waves[1].maxParallel = 2
        schedule.waves[1].groups = [10, 30, 20].map { minutes in
            var group = Self.group("g\(minutes)", .pending)
            group.expectedDuration = .seconds(minutes * 60)
            return group
        }
        // In batches of two, longest first: 30m beside 20m, then 10m: 40m, as DurationEstimator.wave says.
        let section = ScheduleWaveSection(wave: schedule.waves[1], at: schedule.at, aggregateAbove: ScheduleHTML.aggregateAbove)
        let start = schedule.waves[1].window.start
        let slots = section.slots()
        #expect(slots.map(\.lane) == [0, 0, 1])
        #expect(slots.map { $0.start - start } == [.seconds(1800), .zero, .zero])
        #expect(section.projectedEnd() == start + .seconds(2400))
        #expect(ScheduleHTML.page(schedule).contains("the groups need about <b>40m</b> from the window's start</span>"))
        // Many groups and many lanes stay cheap.
        schedule.waves[1].maxParallel = 10_000
        schedule.waves[1].groups = (0..<100_000).map { Self.group("g\($0)", .pending) }
        let wide = ScheduleWaveSection(wave: schedule.waves[1], at: schedule.at, aggregateAbove: ScheduleHTML.aggregateAbove)
        #expect(wide.projectedEnd() == start + .seconds(10 * 900))
    }

    @Test func noticeInForceIsTheLaterOfStoredAndDeclared() async throws {
        let schedule = try await Self.plan()
        let wave = try #require(EngineFixtureFleet.wave(named: "w1"))
        let deadline = schedule.waves[0].noticeDeadline
        let stored = NoticeRecord(wave: "w1", sentAt: Timestamp(rfc3339: "2023-12-20T00:00:00Z")!, window: wave.window,
                                  members: ["a1", "a2"], expectedDuration: .seconds(600), source: .recorded, recordedAt: deadline)
        // Recorded later than declared, after the deadline, for fewer instances than the wave holds now.
        let notice = try #require(Schedule.notice(for: wave, stored: stored, members: ["a1", "a2", "b1"], deadline: deadline))
        #expect(notice.recorded && notice.late && notice.stale)
        let declared = try #require(Schedule.notice(for: wave, stored: nil, members: [], deadline: deadline))
        #expect(!declared.recorded && !declared.late && !declared.stale)
        var bare = wave
        bare.noticeSentAt = nil
        #expect(Schedule.notice(for: bare, stored: nil, members: [], deadline: deadline) == nil)
    }
}

/// The fixture's fleet, loaded once for tests that need only its manifests.
enum EngineFixtureFleet {
    static func wave(named name: String) -> Wave? {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sendpath-schedule-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (file, text) in EngineFixture.manifests() { try? text.write(toFile: folder + "/" + file, atomically: true, encoding: .utf8) }
        return ManifestLoader().load(paths: [folder]).fleet?.wave(named: name)
    }
}
