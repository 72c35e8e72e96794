import Foundation
import SendpathController
import SendpathCore

/// Prints a line on stderr when each step starts and when it ends, with its duration.
struct LiveProgress: ReconcileProgress {
    func stepStarted(group: String, move: CutoverMachine.Move, attempt: Int, at: Timestamp) {
        let retry = attempt > 1 ? " (attempt \(attempt))" : ""
        StandardStreams.err("  → \(group)  \(move)\(retry)\n")
    }

    func stepFinished(group: String, move: CutoverMachine.Move, phase: JournalEntry.Phase, duration: Duration, detail: String?) {
        let mark: String = switch phase {
        case .done: "✓"
        case .retry: "↻"
        default: "✗"
        }
        let seconds = String(format: "%.2fs", duration.seconds)
        let note = detail.map { "  \(Escaped.line($0))" } ?? ""  // a provider's words: escaped
        StandardStreams.err("  \(mark) \(group)  \(move)  \(seconds)\(note)\n")
    }
}
