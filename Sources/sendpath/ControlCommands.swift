import ArgumentParser
import Foundation
import SendpathController
import SendpathCore

/// Who records a control: `--by`, or user@host.
struct ControlAuthor: ParsableArguments {
    @Option(help: ArgumentHelp("Who decides (recorded and shown in status); default: user@host.", valueName: "name"))
    var by: String?

    @Option(help: ArgumentHelp("The state store: sqlite:PATH or postgres://USER@HOST:PORT/DB (password from PGPASSWORD).", valueName: "url"))
    var state: String = RuntimeOptions.defaultState

    func validate() throws {
        if let by { try ControlText.check(by, flag: "--by") }
        var runtime = try RuntimeOptions.parse([])
        runtime.state = state
        try runtime.validate()
    }

    var name: String {
        if let by { return by }
        let user = ProcessInfo.processInfo.environment["USER"] ?? ProcessInfo.processInfo.userName
        return "\(user)@\(ProcessInfo.processInfo.hostName)"
    }

    /// Records `controls` in the state store (created if missing: a suspend must work on a
    /// store nothing has written yet).
    func record(_ controls: [ControlRecord], label: String) async throws {
        var runtime = try RuntimeOptions.parse([])
        runtime.state = state
        let logger = runtime.logger(label)
        try await withCommandErrors {
            try await runtime.withStore(logger: logger) { store in
                for control in controls { try await store.recordControl(control) }
            }
        }
    }
}

/// Free text from the command line that ends up in the store and in reports.
enum ControlText {
    static func check(_ text: String, flag: String) throws {
        guard !text.isEmpty, text.count <= 200 else { throw ValidationError("\(flag) must be 1 to 200 characters") }
        guard !Escaped.containsControl(text) else {
            throw ValidationError("\(flag) holds a control character: '\(Escaped.value(text))'")
        }
    }
}

/// `sendpath suspend [--wave NAME]... [--reason TEXT]`.
struct SuspendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suspend",
        abstract: "Stop every reconciler sharing the state store from starting anything new (every wave, or the named ones).",
        discussion: "Recorded in the state store: every reconciler and controller replica obeys it from its next decision. Cut-overs already in flight finish or turn back as usual; nothing else calls the provider to change anything, not even prepare-target. Groups report status blocked, reasonCode suspended, and apply exits 3. Lifted by 'sendpath resume'."
    )

    @Option(name: .customLong("wave"), help: ArgumentHelp("Suspend only this wave (repeatable); default: every wave.", valueName: "name"))
    var waves: [String] = []

    @Option(help: ArgumentHelp("Why (shown in status and in every blocked group's reason).", valueName: "text"))
    var reason: String?

    @OptionGroup var author: ControlAuthor

    func validate() throws {
        for wave in waves where !DNSLabel.isValid(Array(wave.utf8)) {
            throw ValidationError("--wave must name a wave (a DNS label), found '\(Escaped.value(wave))'")
        }
        if let reason { try ControlText.check(reason, flag: "--reason") }
    }

    func run() async throws {
        let now = SystemClock().now()
        let scopes: [String?] = waves.isEmpty ? [nil] : waves.map { $0 }
        try await author.record(scopes.map { ControlRecord(kind: .suspend, wave: $0, by: author.name, at: now, reason: reason) },
                                label: "sendpath.suspend")
        let what = waves.isEmpty ? "every wave" : "wave " + waves.joined(separator: ", ")
        StandardStreams.out("Suspended \(what) (by \(Escaped.value(author.name)) at \(now)). Cut-overs in flight go on; nothing new starts until 'sendpath resume\(waves.isEmpty ? "" : waves.map { " --wave \($0)" }.joined())'.\n")
    }
}

/// `sendpath resume [--wave NAME]...`.
struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Lift a suspension (every one, or the named waves'), and let waves held by a failed canary or a spent failure budget go on.",
        discussion: "'resume' with no wave lifts every suspension; 'resume --wave W' lifts W's own (a suspension of every wave still holds W). Canaries that rolled back or were held, and failures counted against maxFailures, before the resume no longer hold the wave."
    )

    @Option(name: .customLong("wave"), help: ArgumentHelp("Resume only this wave (repeatable); default: everything.", valueName: "name"))
    var waves: [String] = []

    @OptionGroup var author: ControlAuthor

    func validate() throws {
        for wave in waves where !DNSLabel.isValid(Array(wave.utf8)) {
            throw ValidationError("--wave must name a wave (a DNS label), found '\(Escaped.value(wave))'")
        }
    }

    func run() async throws {
        let now = SystemClock().now()
        let scopes: [String?] = waves.isEmpty ? [nil] : waves.map { $0 }
        try await author.record(scopes.map { ControlRecord(kind: .resume, wave: $0, by: author.name, at: now) }, label: "sendpath.resume")
        StandardStreams.out("Resumed \(waves.isEmpty ? "everything" : "wave " + waves.joined(separator: ", ")) (by \(Escaped.value(author.name)) at \(now)).\n")
    }
}

/// `sendpath approve GROUP|INSTANCE... | --wave NAME`.
struct ApproveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve",
        abstract: "Let the next cut-over of groups in a wave with 'approval: required' freeze (after prepare-target).",
        discussion: "Name groups, or instances (their groups are approved), or a whole wave with --wave. An approval counts for the group's next cut-over only: one that rolls back needs a new approval to try again."
    )

    @Argument(help: "Cut-over groups or instances to approve.")
    var names: [String] = []

    @Option(name: .customLong("wave"), help: ArgumentHelp("Approve every group of this wave (repeatable).", valueName: "name"))
    var waves: [String] = []

    @Option(help: ArgumentHelp("Manifest files or folders (read recursively).", valueName: "path"))
    var manifests: [String] = ["manifests"]

    @OptionGroup var author: ControlAuthor

    func validate() throws {
        guard !names.isEmpty || !waves.isEmpty else { throw ValidationError("name groups or instances to approve, or --wave NAME") }
    }

    func run() async throws {
        let options = try ManifestOptions.parse(manifests)
        let fleet = try options.loadFleet()
        var groups: [CutoverGroup] = []
        var unknown: [String] = []
        for name in names {
            if let group = fleet.group(id: name) {
                groups.append(group)
            } else if let instance = fleet.instance(named: name), let group = fleet.groups.first(where: { $0.instances.contains(instance.name) }) {
                groups.append(group)
            } else {
                unknown.append(name)
            }
        }
        for wave in waves {
            guard fleet.wave(named: wave) != nil else { unknown.append("wave \(wave)"); continue }
            groups += fleet.groups.filter { $0.wave == wave }
        }
        guard unknown.isEmpty else {
            throw ValidationError("no group or instance named \(unknown.map { "'\(Escaped.value($0))'" }.joined(separator: ", ")) in the manifests")
        }
        var seen = Set<String>()
        groups = groups.filter { seen.insert($0.id).inserted }
        let now = SystemClock().now()
        var runtime = try RuntimeOptions.parse([])
        runtime.state = author.state
        let logger = runtime.logger("sendpath.approve")
        let by = author.name
        let ids = groups.map(\.id)
        try await withCommandErrors {
            let approved = try await runtime.withStore(logger: logger) { store in
                let history = try await store.cutovers(groups: Set(ids))
                var result: [String] = []
                for id in ids {
                    let number = (history.filter { $0.group == id }.map(\.number).max() ?? 0) + 1
                    try await store.recordControl(ControlRecord(kind: .approve, group: id, cutover: number, by: by, at: now))
                    result.append("Approved cut-over #\(number) of group \(id) (by \(Escaped.value(by)) at \(now)).\n")
                }
                return result
            }
            StandardStreams.out(approved.joined())
        }
    }
}
