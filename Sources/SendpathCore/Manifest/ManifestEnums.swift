/// The five kinds of manifest document.
public enum ManifestKind: String, Sendable, Hashable, Codable, CaseIterable {
    case instance = "Instance"
    case addressPrefix = "AddressPrefix"
    case wave = "Wave"
    case policy = "Policy"
    case tenant = "Tenant"
}

/// The marketing product an instance runs.
public enum Product: String, Sendable, Hashable, Codable, CaseIterable {
    case campaignClassicV7 = "campaign-classic-v7"
    case campaignV8 = "campaign-v8"
    case campaignStandard = "campaign-standard"
}

/// How the instance is hosted. On-premise instances are not migrated by Sendpath.
public enum Hosting: String, Sendable, Hashable, Codable, CaseIterable {
    case managedServices = "managed-services"
    case managedCloudServices = "managed-cloud-services"
    case hosted
    case hybrid
    case onDemand = "on-demand"
    case onPremise = "on-premise"
}

/// The instance's environment; non-production of a tenant migrates and bakes before its production.
public enum Environment: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case dev
    case staging
    case prod

    public var isProduction: Bool { self == .prod }

    public static func < (lhs: Environment, rhs: Environment) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// Where an email-sending path runs.
public enum Infrastructure: String, Sendable, Hashable, Codable, CaseIterable {
    case adobeDC = "adobe-dc"
    case aws
}

/// What to do when the IPs or the build differ after a switch.
public enum VerificationFailurePolicy: String, Sendable, Hashable, Codable, CaseIterable {
    /// Move the path back, resend there, unfreeze (exit 4).
    case rollback
    /// Stay frozen and report for a human (exit 5).
    case hold
}

/// Whether a wave's groups wait for a human between prepare-target and freeze.
public enum ApprovalPolicy: String, Sendable, Hashable, Codable, CaseIterable {
    /// Groups freeze as soon as their gates pass.
    case none
    /// Each cut-over waits after prepare-target until `sendpath approve` records an approval.
    case required
}

/// A wave's canaries: its first `groups` cut-over groups (in the wave's group order: by id)
/// run alone; the others start once every canary completed and baked for `bake`.
public struct CanaryPolicy: Sendable, Hashable {
    public var groups: Int
    public var bake: Duration

    public init(groups: Int, bake: Duration) {
        self.groups = groups
        self.bake = bake
    }
}

/// How many groups of a wave may roll back or be held in one window before the rest of the
/// wave stops starting: a count, or a percentage of the wave's groups (rounded up).
public enum FailureBudget: Sendable, Hashable, CustomStringConvertible {
    case count(Int)
    case percent(Int)

    /// The number of failed groups that stops the wave, for a wave of `groups` groups (at least 1).
    public func limit(groups: Int) -> Int {
        switch self {
        case .count(let count): max(1, count)
        case .percent(let percent): max(1, (groups * percent + 99) / 100)
        }
    }

    public var description: String {
        switch self {
        case .count(let count): "\(count)"
        case .percent(let percent): "\(percent)%"
        }
    }
}

/// A sending path: the infrastructure and the site or region within it.
public struct SendingPath: Sendable, Hashable, Codable, CustomStringConvertible {
    public var infrastructure: Infrastructure
    public var location: String

    public init(infrastructure: Infrastructure, location: String) {
        self.infrastructure = infrastructure
        self.location = location
    }

    public var description: String { "\(infrastructure.rawValue)/\(location)" }
}
