/// The steps of a cut-over, as named in reports, journals and fault files.
public enum StepName: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case prepareTarget = "prepare-target"
    case freeze
    case snapshotQueue = "snapshot-queue"
    case switchPath = "switch-path"
    case verifyIPs = "verify-ips"
    case verifyBuild = "verify-build"
    case resendQueue = "resend-queue"
    case unfreeze
    case rollbackPath = "rollback-path"

    /// The forward path of a cut-over, in order (prepare-target may already be done).
    public static let forward: [StepName] = [
        .prepareTarget, .freeze, .snapshotQueue, .switchPath, .verifyIPs, .verifyBuild, .resendQueue, .unfreeze,
    ]

    /// Steps that change the fleet (everything but the two verifications).
    public var isMutating: Bool { self != .verifyIPs && self != .verifyBuild }

    public static func < (lhs: StepName, rhs: StepName) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
