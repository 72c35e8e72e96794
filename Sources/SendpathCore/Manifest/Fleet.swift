/// A validated set of manifests: every rule held, references resolved, cut-over groups formed.
///
/// Built only by ``FleetValidator``. Collections are sorted by name so that plans and
/// reports are deterministic.
public struct Fleet: Sendable {
    public let instances: [Instance]
    public let prefixes: [AddressPrefix]
    public let waves: [Wave]
    public let policy: Policy
    /// Tenant documents, sorted by name (a tenant named by instances may have none).
    public let tenants: [Tenant]
    /// The instances linked by shared prefixes, each moved as one unit.
    public let groups: [CutoverGroup]

    /// For each instance (same order as `instances`), the index of its group in `groups`.
    private let groupOfInstance: [Int]
    /// For each group (same order as `groups`), the indices of its members in `instances`.
    private let membersOfGroup: [[Int]]

    /// `instances`, `prefixes` and `waves` must be sorted by name; `groupOfInstance` aligned with `instances`.
    init(instances: [Instance], prefixes: [AddressPrefix], waves: [Wave], policy: Policy, tenants: [Tenant] = [],
         groups: [CutoverGroup], groupOfInstance: [Int]) {
        self.tenants = tenants
        self.instances = instances
        self.prefixes = prefixes
        self.waves = waves
        self.policy = policy
        self.groups = groups
        self.groupOfInstance = groupOfInstance
        var members = [[Int]](repeating: [], count: groups.count)
        for (instance, group) in groupOfInstance.enumerated() where group >= 0 { members[group].append(instance) }
        self.membersOfGroup = members
    }

    /// The member instances of `groups[index]`, in name order.
    /// Indices in ``instances`` of a group's members (no copies, for loops over large fleets).
    public func memberIndices(ofGroupAt index: Int) -> [Int] { membersOfGroup[index] }

    /// The index of the first element whose name is not less than `name` (binary search).
    private static func lowerBound<T>(_ items: [T], _ name: String, _ key: (T) -> String) -> Int {
        var low = 0, high = items.count
        while low < high {
            let mid = (low + high) / 2
            if key(items[mid]) < name { low = mid + 1 } else { high = mid }
        }
        return low
    }

    public func instanceIndex(named name: String) -> Int? {
        let index = Fleet.lowerBound(instances, name, \.name)
        return index < instances.count && instances[index].name == name ? index : nil
    }

    public func instance(named name: String) -> Instance? { instanceIndex(named: name).map { instances[$0] } }

    public func wave(named name: String) -> Wave? {
        let index = Fleet.lowerBound(waves, name, \.name)
        return index < waves.count && waves[index].name == name ? waves[index] : nil
    }

    public func tenant(named name: String) -> Tenant? {
        let index = Fleet.lowerBound(tenants, name, \.name)
        return index < tenants.count && tenants[index].name == name ? tenants[index] : nil
    }

    public func group(of instance: String) -> CutoverGroup? { instanceIndex(named: instance).map { groups[groupOfInstance[$0]] } }
    public func group(id: String) -> CutoverGroup? { groups.first { $0.id == id } }
    public func groups(inWave wave: String) -> [CutoverGroup] { groups.filter { $0.wave == wave } }
}

/// The unit of work: instances linked by shared address prefixes.
///
/// All members are frozen before the prefixes move and all are verified before any is
/// unfrozen. The id is the sorted prefix names joined by `+`, stable across runs.
public struct CutoverGroup: Sendable, Hashable, Identifiable, Codable {
    public var id: String
    public var wave: String
    /// Member instance names, sorted.
    public var instances: [String]
    /// Prefix names, sorted.
    public var prefixes: [String]
    public var blocks: [AddressBlock]
    /// Where every member sends from after the move.
    public var target: SendingPath

    public init(id: String, wave: String, instances: [String], prefixes: [String], blocks: [AddressBlock], target: SendingPath) {
        self.id = id
        self.wave = wave
        self.instances = instances
        self.prefixes = prefixes
        self.blocks = blocks
        self.target = target
    }
}
