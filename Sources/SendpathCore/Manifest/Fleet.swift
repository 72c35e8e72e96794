/// A validated set of manifests: every rule held, references resolved, cut-over groups formed.
///
/// Built only by ``FleetValidator``. Collections are sorted by name so that plans and
/// reports are deterministic.
public struct Fleet: Sendable {
    public let instances: [Instance]
    public let prefixes: [AddressPrefix]
    public let waves: [Wave]
    public let policy: Policy
    /// The instances linked by shared prefixes, each moved as one unit.
    public let groups: [CutoverGroup]

    private let instanceIndex: [String: Int]
    private let waveIndex: [String: Int]
    private let groupIndexByInstance: [String: Int]

    init(instances: [Instance], prefixes: [AddressPrefix], waves: [Wave], policy: Policy, groups: [CutoverGroup]) {
        self.instances = instances
        self.prefixes = prefixes
        self.waves = waves
        self.policy = policy
        self.groups = groups
        var instanceIndex: [String: Int] = [:]
        instanceIndex.reserveCapacity(instances.count)
        for (index, instance) in instances.enumerated() { instanceIndex[instance.name] = index }
        self.instanceIndex = instanceIndex
        self.waveIndex = Dictionary(uniqueKeysWithValues: waves.enumerated().map { ($1.name, $0) })
        var byInstance: [String: Int] = [:]
        byInstance.reserveCapacity(instances.count)
        for (index, group) in groups.enumerated() {
            for name in group.instances { byInstance[name] = index }
        }
        self.groupIndexByInstance = byInstance
    }

    public func instance(named name: String) -> Instance? { instanceIndex[name].map { instances[$0] } }
    public func wave(named name: String) -> Wave? { waveIndex[name].map { waves[$0] } }
    public func group(of instance: String) -> CutoverGroup? { groupIndexByInstance[instance].map { groups[$0] } }
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
