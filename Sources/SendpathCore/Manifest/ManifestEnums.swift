/// The four kinds of manifest document.
public enum ManifestKind: String, Sendable, Hashable, Codable, CaseIterable {
    case instance = "Instance"
    case addressPrefix = "AddressPrefix"
    case wave = "Wave"
    case policy = "Policy"
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
