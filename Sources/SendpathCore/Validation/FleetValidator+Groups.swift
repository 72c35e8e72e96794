extension FleetValidator {
    /// Links instances that share a prefix into cut-over groups and checks that each group can
    /// move as one: a single wave and a single target (matching the prefixes' awsRegion).
    static func formGroups(instances: [Instance], prefixes: [AddressPrefix], membership: Membership,
                           into diagnostics: inout [Diagnostic]) -> (groups: [CutoverGroup], groupOfInstance: [Int]) {
        var parent = Array(instances.indices)
        func find(_ x: Int) -> Int {
            var x = x
            while parent[x] != x {
                parent[x] = parent[parent[x]]
                x = parent[x]
            }
            return x
        }
        for members in membership.instancesByPrefix where members.count > 1 {
            let root = find(members[0])
            for other in members.dropFirst() {
                let r = find(other)
                if r != root { parent[r] = root }
            }
        }
        // Components in the order of their first member; members in index (name) order.
        var componentOfRoot = [Int](repeating: -1, count: instances.count)
        var components: [[Int]] = []
        for index in instances.indices {
            let root = find(index)
            if componentOfRoot[root] < 0 {
                componentOfRoot[root] = components.count
                components.append([])
            }
            components[componentOfRoot[root]].append(index)
        }
        // Each component is checked on its own, over the cores.
        let formed = OrderedChunks.map(count: components.count, minimumPerChunk: 16) { [components] component in
            formGroup(members: components[component], instances: instances, prefixes: prefixes, membership: membership)
        }
        var groups: [(group: CutoverGroup, members: [Int])] = []
        groups.reserveCapacity(formed.count)
        for component in formed {
            diagnostics += component.diagnostics
            if let group = component.group { groups.append((group, component.members)) }
        }
        groups.sort { ($0.group.wave, $0.group.id) < ($1.group.wave, $1.group.id) }
        var groupOfInstance = [Int](repeating: -1, count: instances.count)
        for (index, entry) in groups.enumerated() {
            for member in entry.members { groupOfInstance[member] = index }
        }
        return (groups.map(\.group), groupOfInstance)
    }

    /// One component of instances linked by prefixes: its group (none when it holds no prefix,
    /// reported as ip-outside-prefix) and what stops it moving as one.
    struct FormedComponent: Sendable {
        var group: CutoverGroup?
        var members: [Int]
        var diagnostics: [Diagnostic] = []
    }

    static func formGroup(members: [Int], instances: [Instance], prefixes: [AddressPrefix],
                          membership: Membership) -> FormedComponent {
        var formed = FormedComponent(group: nil, members: members)
        // Indices are in name order already: instances are sorted by name.
        let prefixIndices = Set(members.flatMap { membership.prefixesByInstance[$0] }).sorted { prefixes[$0].name < prefixes[$1].name }
        guard !prefixIndices.isEmpty else { return formed }
        let prefixNames = prefixIndices.map { prefixes[$0].name }
        // The group's wave and target are those most of its members have (ties: the first by
        // name); each member that differs is reported, naming a prefix it shares with one that agrees.
        let wave = majority(members.map { instances[$0].wave.value })
        let target = majority(members.map { instances[$0].sendingPath.value })
        func shared(_ index: Int, with agrees: (Int) -> Bool) -> String {
            for prefix in membership.prefixesByInstance[index] {
                if let other = membership.instancesByPrefix[prefix].first(where: { $0 != index && agrees($0) }) {
                    return "prefix '\(prefixes[prefix].name)' with '\(instances[other].name)'"
                }
            }
            let other = members.first { $0 != index && agrees($0) }.map { instances[$0].name } ?? "the rest"
            return "a cut-over group (through prefixes \(prefixNames.map { "'\($0)'" }.joined(separator: ", "))) with '\(other)'"
        }
        for index in members where instances[index].wave.value != wave {
            let instance = instances[index]
            formed.diagnostics.append(Diagnostic(.prefixSplit, at: instance.wave.location,
                                                 "instance '\(instance.name)' is in wave '\(instance.wave.value)' but shares \(shared(index) { instances[$0].wave.value == wave }) in wave '\(wave)'",
                                                 hint: "a prefix moves whole: put every instance with an IP in it in the same wave"))
        }
        for index in members where instances[index].sendingPath.value != target {
            let instance = instances[index]
            formed.diagnostics.append(Diagnostic(.prefixTargetMismatch, at: instance.sendingPath.location,
                                                 "instance '\(instance.name)' targets \(instance.sendingPath.value) but shares \(shared(index) { instances[$0].sendingPath.value == target }), which targets \(target)",
                                                 hint: "a prefix is advertised from one place: give every instance in it the same sendingPath"))
        }
        for index in members where instances[index].sendingPath.value.infrastructure == .aws {
            let path = instances[index].sendingPath
            for prefixIndex in membership.prefixesByInstance[index] {
                if let region = prefixes[prefixIndex].awsRegion, region.value != path.value.location {
                    formed.diagnostics.append(Diagnostic(.prefixTargetMismatch, at: path.location,
                                                         "instance '\(instances[index].name)' targets aws/\(path.value.location) but its prefix '\(prefixes[prefixIndex].name)' is provisioned in \(region.value)",
                                                         hint: "target \(region.value), or change the prefix's awsRegion"))
                }
            }
        }
        formed.group = CutoverGroup(id: prefixNames.joined(separator: "+"), wave: wave,
                                    instances: members.map { instances[$0].name }, prefixes: prefixNames,
                                    blocks: prefixIndices.map { prefixes[$0].cidr.value }.sorted(), target: target)
        return formed
    }

    /// The most common value, the earliest on a tie.
    static func majority<Value: Hashable>(_ values: [Value]) -> Value {
        // Usually every member agrees: no counting then.
        if values.allSatisfy({ $0 == values[0] }) { return values[0] }
        var counts: [Value: Int] = [:]
        for value in values { counts[value, default: 0] += 1 }
        var best = values[0]
        for value in values where counts[value]! > counts[best]! { best = value }
        return best
    }
}
