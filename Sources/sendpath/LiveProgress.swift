import Foundation
import SendpathController
import SendpathCore

/// Prints a line on stderr when each step starts and when it ends, with its duration.
///
/// With `--log-format json` each line is one JSON object on stderr, like every other stderr
/// line: `message` is `step started` or `step finished`, with `cutover.group`, `step.name`,
/// `step.attempt` (a number) and, when finished, `step.phase`, `step.duration_s` (a number of
/// seconds) and `step.detail` when the provider said something.
struct LiveProgress: ReconcileProgress {
    static let label = "sendpath.progress"

    func stepStarted(group: String, move: CutoverMachine.Move, attempt: Int, at: Timestamp) {
        let retry = attempt > 1 ? " (attempt \(attempt))" : ""
        StderrLine.write("  → \(group)  \(move)\(retry)\n", level: .info, label: Self.label, message: "step started",
                         fields: ["cutover.group": group, "step.name": "\(move)", "step.attempt": attempt])
    }

    func stepFinished(group: String, move: CutoverMachine.Move, phase: JournalEntry.Phase, duration: Duration, detail: String?) {
        let mark: String = switch phase {
        case .done: "✓"
        case .retry: "↻"
        default: "✗"
        }
        let seconds = String(format: "%.2fs", duration.seconds)
        let note = detail.map { "  \(Escaped.line($0))" } ?? ""  // a provider's words: escaped
        var fields: [String: Any] = ["cutover.group": group, "step.name": "\(move)", "step.phase": phase.rawValue,
                                     "step.duration_s": duration.seconds]
        if let detail { fields["step.detail"] = Escaped.line(detail) }
        StderrLine.write("  \(mark) \(group)  \(move)  \(seconds)\(note)\n", level: phase == .done || phase == .retry ? .info : .warning,
                         label: Self.label, message: "step finished", fields: fields)
    }
}
