/// The parts of a ``RunRecord`` kept in the stores' `run.details` column (JSON): what the run
/// applied and the groups it worked on. `nil` when the run has neither.
public struct RunDetails: Sendable, Hashable, Codable {
    public var revision: RunRevision?
    public var groups: [String]?

    public init?(_ run: RunRecord) {
        guard run.revision != nil || run.groups != nil else { return nil }
        revision = run.revision
        groups = run.groups
    }
}
