import Testing
@testable import SendpathCore

@Suite("Planner gates")
struct PlannerTests {
    typealias F = PlannerFixture

    /// Plans with the non-production group already migrated long ago, at `now`.
    static func plan(_ fixture: PlannerFixture = PlannerFixture(), at now: Timestamp,
                     nonprodDone: Bool = true, mutate: (inout [String: ObservedInstance], inout [AddressBlock: ObservedPrefix]) -> Void = { _, _ in },
                     cutovers: [CutoverRecord] = [], notices: [String: NoticeRecord] = [:], resumeHeld: Set<String> = []) -> (Fleet, Plan) {
        let fleet = fixture.fleet
        var observed = F.observed(fleet)
        var prefixes = F.prefixes(fleet)
        var history = cutovers
        if nonprodDone, let dev = fleet.group(of: "acme-dev1") {
            F.move(dev, in: &observed, &prefixes)
            history.insert(F.completed(dev, finishedAt: F.t("2023-10-10T21:00:00Z"), window: F.nonprodWindow), at: 0)
        }
        mutate(&observed, &prefixes)
        let input = PlanInput(fleet: fleet, observedInstances: observed, observedPrefixes: prefixes, cutovers: history,
                              notices: notices, now: now, resumeHeld: resumeHeld)
        return (fleet, Planner.plan(input))
    }

    static func group(_ plan: Plan, of instance: String, in fleet: Fleet) -> GroupPlan {
        let id = fleet.group(of: instance)!.id
        return plan.groups.first { $0.group.id == id }!
    }

    static let inWindow = F.t("2024-01-16T21:00:00Z")

    @Test func groupsFollowSharedPrefixes() {
        let fleet = PlannerFixture().fleet
        #expect(fleet.groups.map(\.id).sorted() == ["pfx-beta-a+pfx-beta-b", "pfx-dev", "pfx-prod"])
        #expect(fleet.group(of: "acme-prod1")?.instances == ["acme-prod1", "acme-prod2"])
        #expect(fleet.group(of: "beta-prod1")?.blocks.count == 2)
    }

    @Test func aReadyGroupStartsWithEveryStep() {
        let (fleet, plan) = Self.plan(at: Self.inWindow)
        let group = Self.group(plan, of: "acme-prod1", in: fleet)
        #expect(group.decision == .start)
        #expect(group.reasons.isEmpty)
        #expect(group.steps.map(\.step) == StepName.forward)
        #expect(group.status == .pending)
    }

    @Test(arguments: [
        ("2024-01-16T19:59:59Z", ReasonCode?.some(.windowNotOpen)),
        ("2024-01-16T20:00:00Z", nil),
        ("2024-01-16T23:35:30Z", nil),                        // 24m30s left: 9m30s expected + 15m reserve
        ("2024-01-16T23:35:31Z", .some(.windowTooShort)),
        ("2024-01-16T23:59:59Z", .some(.windowTooShort)),
        ("2024-01-17T00:00:00Z", .some(.windowClosed)),
    ])
    func windowGatesAtTheirBoundaries(now: String, expected: ReasonCode?) {
        let (fleet, plan) = Self.plan(at: F.t(now))
        let group = Self.group(plan, of: "acme-prod1", in: fleet)
        #expect(group.reasons.first?.code == expected, "\(group.reasons)")
        #expect(group.decision == (expected == nil ? .start : (expected == .windowNotOpen ? .prepare : .blocked)))
    }

    @Test(arguments: [
        ("2023-12-17T20:00:00Z", nil),                        // exactly 30 days before the prod window
        ("2023-12-17T20:00:01Z", ReasonCode?.some(.noticeTooLate)),
    ])
    func prodNoticeLeadTimeBoundary(sentAt: String, expected: ReasonCode?) {
        var fixture = PlannerFixture()
        fixture.prodNotice = F.t(sentAt)
        let (fleet, plan) = Self.plan(fixture, at: Self.inWindow)
        #expect(Self.group(plan, of: "acme-prod1", in: fleet).reasons.first?.code == expected)
    }

    @Test(arguments: [
        ("2023-10-03T20:00:00Z", nil),                        // exactly 7 days before the dev window
        ("2023-10-03T20:00:01Z", ReasonCode?.some(.noticeTooLate)),
    ])
    func devNoticeLeadTimeBoundary(sentAt: String, expected: ReasonCode?) {
        var fixture = PlannerFixture()
        fixture.nonprodNotice = F.t(sentAt)
        let (fleet, plan) = Self.plan(fixture, at: F.t("2023-10-10T21:00:00Z"), nonprodDone: false)
        #expect(Self.group(plan, of: "acme-dev1", in: fleet).reasons.first?.code == expected)
    }

    @Test func aMissingNoticeBlocksEvenPreparation() {
        var fixture = PlannerFixture()
        fixture.prodNotice = nil
        let (fleet, plan) = Self.plan(fixture, at: F.t("2024-01-10T00:00:00Z"))
        let group = Self.group(plan, of: "acme-prod1", in: fleet)
        #expect(group.reasons.map(\.code) == [.noticeMissing, .windowNotOpen])
        #expect(group.decision == .blocked)
        #expect(group.steps.isEmpty)
    }

    @Test func aMissingNoticeAloneBlocksAnOpenWindow() {
        var fixture = PlannerFixture()
        fixture.prodNotice = nil
        let (fleet, plan) = Self.plan(fixture, at: Self.inWindow)
        let group = Self.group(plan, of: "acme-prod1", in: fleet)
        #expect(group.reasons.map(\.code) == [.noticeMissing])
        #expect(group.reasons.first?.message.contains("sendpath notify --wave prod") == true, "\(group.reasons)")
        #expect(group.decision == .blocked)
        #expect(group.status == .blocked)
    }

    @Test func aNoticeSentAfterTheWindowOpenedSaysSo() {
        var fixture = PlannerFixture()
        fixture.prodNotice = Self.inWindow - .seconds(1800)
        let (fleet, plan) = Self.plan(fixture, at: Self.inWindow)
        let reason = Self.group(plan, of: "acme-prod1", in: fleet).reasons.first
        #expect(reason?.code == .noticeTooLate)
        #expect(reason?.message.contains("30m after the window opened") == true, "\(reason?.message ?? "")")
    }

    @Test func aRecordedNoticeGoesStaleWhenTheWindowOrMembersChange() {
        let fleet = PlannerFixture().fleet
        let members = fleet.instances.filter { $0.wave.value == "prod" }.map(\.name).sorted()
        let moved = Window(start: F.prodWindow.start - .seconds(3600), end: F.prodWindow.end)
        var fixture = PlannerFixture()
        fixture.prodNotice = nil
        let stale = NoticeRecord(wave: "prod", sentAt: F.t("2023-12-01T09:00:00Z"), window: moved, members: members,
                                 expectedDuration: .seconds(600), source: .recorded, recordedAt: F.t("2023-12-01T09:00:00Z"))
        let (_, windowPlan) = Self.plan(fixture, at: Self.inWindow, notices: ["prod": stale])
        #expect(windowPlan.groups.first { $0.wave.name == "prod" }?.reasons.map(\.code) == [.noticeStale])
        var fewer = stale
        fewer.window = F.prodWindow
        fewer.members = members.filter { $0 != "acme-prod2" }
        let (_, memberPlan) = Self.plan(fixture, at: Self.inWindow, notices: ["prod": fewer])
        let reason = memberPlan.groups.first { $0.wave.name == "prod" }?.reasons.first
        #expect(reason?.code == .noticeStale)
        #expect(reason?.message.contains("added acme-prod2") == true)
        var same = fewer
        same.members = members
        let (_, okPlan) = Self.plan(fixture, at: Self.inWindow, notices: ["prod": same])
        #expect(okPlan.groups.first { $0.wave.name == "prod" }?.reasons.isEmpty == true)
    }

    @Test func aManifestNoticeIsRecordedOnFirstSight() {
        let (_, plan) = Self.plan(at: Self.inWindow)
        #expect(plan.noticesToRecord.map(\.wave) == ["nonprod", "prod"])
        #expect(plan.noticesToRecord.allSatisfy { $0.source == .manifest })
    }

    @Test func productionWaitsForNonProductionAndItsBake() {
        // Not migrated: both the `after` wave and the tenant order block acme.
        let (fleet, notMoved) = Self.plan(at: Self.inWindow, nonprodDone: false)
        let acme = Self.group(notMoved, of: "acme-prod1", in: fleet)
        #expect(acme.reasons.map(\.code) == [.order, .order])
        // beta has no non-production: only the `after` wave holds it.
        #expect(Self.group(notMoved, of: "beta-prod1", in: fleet).reasons.count == 1)

        // Migrated at 2024-01-10T21:00Z: bakes until 2024-01-17T21:00Z, after this window.
        let fixture = PlannerFixture()
        let dev = fixture.fleet.group(of: "acme-dev1")!
        let recent = F.completed(dev, finishedAt: F.t("2024-01-10T21:00:00Z"), number: 2, window: F.nonprodWindow)
        let (_, baking) = Self.plan(at: Self.inWindow, cutovers: [recent])
        let baked = Self.group(baking, of: "acme-prod1", in: fleet)
        #expect(baked.reasons.map(\.code) == [.order])
        #expect(baked.reasons.first?.message.contains("bakes until 2024-01-17T21:00:00Z") == true)
    }

    @Test(arguments: [
        ("2024-01-09T20:59:59Z", nil),                        // baked exactly at now
        ("2024-01-09T21:00:00Z", ReasonCode?.some(.order)),
    ])
    func bakeTimeBoundary(finished: String, expected: ReasonCode?) {
        let fixture = PlannerFixture()
        let dev = fixture.fleet.group(of: "acme-dev1")!
        let record = F.completed(dev, finishedAt: F.t(finished), number: 2, window: F.nonprodWindow)
        let (fleet, plan) = Self.plan(at: F.t("2024-01-16T20:59:59Z"), cutovers: [record])
        #expect(Self.group(plan, of: "acme-prod1", in: fleet).reasons.first?.code == expected)
    }

    @Test(arguments: ["ips", "build", "frozen", "unknown", "prefix"])
    func driftBlocksAndPreventsPreparation(kind: String) {
        let (fleet, plan) = Self.plan(at: Self.inWindow) { observed, prefixes in
            switch kind {
            case "ips": observed["acme-prod2"]?.sendingIPs = [IPAddress("100.64.0.1")!]
            case "build": observed["acme-prod2"]?.build = "7.3.5 build 9999"
            case "frozen": observed["acme-prod2"]?.frozen = true
            case "unknown": observed["acme-prod2"] = nil
            default: prefixes[try! AddressBlock.parse("192.0.2.0/24").get()]?.advertisedFrom = [F.dc, F.aws]
            }
        }
        let group = Self.group(plan, of: "acme-prod1", in: fleet)
        #expect(group.reasons.map(\.code) == [.drift])
        #expect(group.decision == .blocked)
        #expect(Self.group(plan, of: "beta-prod1", in: fleet).decision == .start)
    }

    @Test func combinedGatesAreAllReportedMostImportantFirst() {
        var fixture = PlannerFixture()
        fixture.prodNotice = F.t("2024-01-10T00:00:00Z")
        let (fleet, plan) = Self.plan(fixture, at: F.t("2024-01-16T19:00:00Z"), nonprodDone: false) { observed, _ in
            observed["acme-prod1"]?.build = "other"
        }
        let codes = Self.group(plan, of: "acme-prod1", in: fleet).reasons.map(\.code)
        #expect(codes == [.drift, .noticeTooLate, .order, .order, .windowNotOpen])
    }

    @Test func beforeTheWindowOnlyPrepareTargetRuns() {
        let (fleet, plan) = Self.plan(at: F.t("2024-01-16T19:00:00Z"))
        let group = Self.group(plan, of: "acme-prod1", in: fleet)
        #expect(group.decision == .prepare)
        #expect(group.steps == [CutoverMachine.Move(.prepareTarget)])
        #expect(group.status == .blocked)
        let (_, prepared) = Self.plan(at: F.t("2024-01-16T19:00:00Z")) { observed, _ in
            for name in ["acme-prod1", "acme-prod2"] { observed[name]?.preparedTarget = F.aws }
        }
        #expect(Self.group(prepared, of: "acme-prod1", in: fleet).decision == .blocked)
        let (_, ready) = Self.plan(at: Self.inWindow) { observed, _ in
            for name in ["acme-prod1", "acme-prod2"] { observed[name]?.preparedTarget = F.aws }
        }
        #expect(Self.group(ready, of: "acme-prod1", in: fleet).steps.first?.step == .freeze)
    }

    @Test func groupsOnTargetAreInSyncOrMigrated() {
        let (fleet, plan) = Self.plan(at: Self.inWindow)
        #expect(Self.group(plan, of: "acme-dev1", in: fleet).decision == .migrated)
        let (_, moved) = Self.plan(at: Self.inWindow) { observed, prefixes in
            F.move(fleet.group(of: "beta-prod1")!, in: &observed, &prefixes)
        }
        #expect(Self.group(moved, of: "beta-prod1", in: fleet).decision == .inSync)
    }

    @Test func anUnfinishedCutoverResumesWhateverTheGates() {
        let fleet = PlannerFixture().fleet
        let group = fleet.group(of: "acme-prod1")!
        let entries = [StepName.freeze, .snapshotQueue].flatMap { step in
            [JournalEntry.Phase.intent, .done].map { phase in
                JournalEntry(cutoverID: "\(group.id)#1", group: group.id, step: step, phase: phase, attempt: 1,
                             idempotencyKey: "k", fencingToken: FencingToken(1), at: F.prodWindow.start, holder: "h")
            }
        }
        var open = F.completed(group, finishedAt: F.prodWindow.start, entries: entries)
        open.outcome = nil
        open.finishedAt = nil
        // Inside the window it goes on where it stopped, whatever the other gates say now.
        var noNotice = PlannerFixture()
        noNotice.prodNotice = nil
        let (_, plan) = Self.plan(noNotice, at: Self.inWindow, cutovers: [open])
        let decided = Self.group(plan, of: "acme-prod1", in: fleet)
        #expect(decided.decision == .resume)
        #expect(decided.status == .inProgress)
        #expect(decided.steps.map(\.step) == [.switchPath, .verifyIPs, .verifyBuild, .resendQueue, .unfreeze])
        // Past the window's end less the rollback reserve, the apply would turn back: so does the plan.
        let (_, late) = Self.plan(at: F.t("2024-01-16T23:50:00Z"), cutovers: [open])
        let back = Self.group(late, of: "acme-prod1", in: fleet)
        #expect(back.decision == .resume)
        #expect(back.steps == [CutoverMachine.Move(.resendQueue, rollback: true), CutoverMachine.Move(.unfreeze, rollback: true)])
    }

    @Test func heldGroupsWaitForAnOperator() {
        let fleet = PlannerFixture().fleet
        let group = fleet.group(of: "acme-prod1")!
        var entries: [JournalEntry] = []
        for step in [StepName.freeze, .snapshotQueue, .switchPath, .verifyIPs, .verifyBuild, .resendQueue] {
            let phases: [JournalEntry.Phase] = step == .resendQueue ? [.intent, .failed] : [.intent, .done]
            for phase in phases {
                entries.append(JournalEntry(cutoverID: "\(group.id)#1", group: group.id, step: step, phase: phase, attempt: 1,
                                            idempotencyKey: "k", fencingToken: FencingToken(1), at: F.prodWindow.start, holder: "h"))
            }
        }
        let held = F.completed(group, finishedAt: F.prodWindow.start + .seconds(60), outcome: .held, entries: entries)
        let (_, plan) = Self.plan(at: Self.inWindow, cutovers: [held])
        let decided = Self.group(plan, of: "acme-prod1", in: fleet)
        #expect(decided.decision == .held)
        #expect(decided.reasons.first?.code == .held)
        #expect(decided.reasons.first?.message.contains("--resume-held pfx-prod") == true)
        let (_, resumed) = Self.plan(at: Self.inWindow, cutovers: [held], resumeHeld: [group.id])
        #expect(Self.group(resumed, of: "acme-prod1", in: fleet).decision == .resume)
        #expect(Self.group(resumed, of: "acme-prod1", in: fleet).steps.map(\.step) == [.resendQueue, .unfreeze])
        // Resumed by an operator and then killed: the journal says running, so the next run goes on.
        var reopened = held
        reopened.entries.append(JournalEntry(cutoverID: "\(group.id)#1", group: group.id, step: .resendQueue, phase: .resumed, attempt: 0,
                                             idempotencyKey: "", fencingToken: FencingToken(2), at: Self.inWindow, holder: "h2"))
        let (_, crashed) = Self.plan(at: Self.inWindow, cutovers: [reopened])
        #expect(Self.group(crashed, of: "acme-prod1", in: fleet).decision == .resume)
    }

    @Test func rollbacksAreRetriedAFewTimesPerWindow() {
        let fleet = PlannerFixture().fleet
        let group = fleet.group(of: "acme-prod1")!
        let once = [F.completed(group, finishedAt: F.prodWindow.start + .seconds(60), outcome: .rolledBack)]
        let (_, retry) = Self.plan(at: Self.inWindow, cutovers: once)
        let retried = Self.group(retry, of: "acme-prod1", in: fleet)
        #expect(retried.decision == .start)
        #expect(retried.note?.contains("attempt 2 of 3") == true)
        let thrice = (1...3).map { F.completed(group, finishedAt: F.prodWindow.start + .seconds(Int64(60 * $0)), number: $0, outcome: .rolledBack) }
        let (_, stop) = Self.plan(at: Self.inWindow, cutovers: thrice)
        #expect(Self.group(stop, of: "acme-prod1", in: fleet).decision == .rolledBack)
        #expect(Self.group(stop, of: "acme-prod1", in: fleet).status == .rolledBack)
    }
}
