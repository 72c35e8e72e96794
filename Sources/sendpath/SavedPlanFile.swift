import ArgumentParser
import Foundation
import SendpathCore

/// Reads and writes saved plans (`--out FILE`, `--plan FILE`).
enum SavedPlanFile {
    /// The largest plan file read (a plan of 100k groups is a few tens of MB).
    static let maximumSize = 256 << 20

    static func read(_ path: String) throws -> SavedPlan {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              (attributes[.type] as? FileAttributeType) == .typeRegular else {
            throw ValidationError("--plan: '\(Escaped.value(path))' is not a readable file")
        }
        guard ((attributes[.size] as? NSNumber)?.intValue ?? 0) <= maximumSize else {
            throw ValidationError("--plan: '\(Escaped.value(path))' is larger than \(maximumSize >> 20) MiB: not a plan sendpath wrote")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("--plan: cannot read '\(Escaped.value(path))'")
        }
        let plan: SavedPlan
        do {
            plan = try JSONDecoder().decode(SavedPlan.self, from: data)
        } catch {
            throw ValidationError("--plan: '\(Escaped.value(path))' is not a saved plan (\(Escaped.line("\(error)")))")
        }
        guard plan.format == SavedPlan.format else {
            throw ValidationError("--plan: '\(Escaped.value(path))' is a plan of format '\(Escaped.value(plan.format))'; this sendpath reads \(SavedPlan.format)")
        }
        return plan
    }

    /// Writes the plan whole (a temporary file renamed over the target).
    static func write(_ plan: SavedPlan, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(plan) + Data("\n".utf8)
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw CommandFailure("cannot write the plan to \(path): \(error.localizedDescription)")
        }
    }
}
