/// Checks the rules that span documents and builds the ``Fleet``.
///
/// Every problem is reported in one pass; a fleet is returned only when there is no error.
public enum FleetValidator {
    public struct Result: Sendable {
        public var fleet: Fleet?
        public var diagnostics: [Diagnostic]
    }

    public static func validate(_ documents: ManifestSet) -> Result {
        var diagnostics: [Diagnostic] = []
        // Sorted by name first, so that every index below is the fleet's own and duplicate
        // names are neighbours.
        let (instances, namesDistinct) = sortedByName(documents.instances)
        let prefixes = documents.prefixes.sorted { $0.name < $1.name }
        let waves = documents.waves.sorted { $0.name < $1.name }
        let policies = documents.policies
        let tenants = documents.tenants.sorted { $0.name < $1.name }
        if !namesDistinct {
            checkUniqueNames(instances.count, name: { instances[$0].metadata.name }, kind: .instance, into: &diagnostics)
        }
        checkUniqueNames(prefixes.count, name: { prefixes[$0].metadata.name }, kind: .addressPrefix, into: &diagnostics)
        checkUniqueNames(waves.count, name: { waves[$0].metadata.name }, kind: .wave, into: &diagnostics)
        checkUniqueNames(tenants.count, name: { tenants[$0].metadata.name }, kind: .tenant, into: &diagnostics)
        for extra in policies.dropFirst() {
            let first = policies[0].metadata?.documentLocation
            diagnostics.append(Diagnostic(.multiplePolicies, at: extra.metadata?.name.location ?? first!,
                                          "more than one Policy: '\(extra.metadata?.name.value ?? "")' repeats '\(policies[0].metadata?.name.value ?? "")'",
                                          hint: first.map { "merge them into the one at \($0)" }))
        }
        let unreadable = documents.unreadable
        checkWaves(waves, unreadable: unreadable, into: &diagnostics)
        let prefixTable = checkPrefixes(prefixes, into: &diagnostics)
        let waveNames = Set(waves.map(\.name))
        let membership = checkInstances(instances, waveNames: waveNames, prefixes: prefixTable, unreadable: unreadable,
                                        into: &diagnostics)
        checkTenants(instances, prefixes: prefixes, membership: membership, into: &diagnostics)
        checkTenantDocuments(tenants, instances: instances, unreadable: unreadable, into: &diagnostics)
        let (groups, groupOfInstance) = formGroups(instances: instances, prefixes: prefixes, membership: membership, into: &diagnostics)
        for (index, prefix) in prefixes.enumerated()
        where membership.instancesByPrefix[index].isEmpty && !unreadable.mayDeclareAny(.instance) {
            diagnostics.append(Diagnostic(.unusedPrefix, at: prefix.cidr.location,
                                          "prefix '\(prefix.name)' (\(prefix.cidr.value)) holds no instance's sending IP; it will not move",
                                          hint: "remove it, or add the instances that send from it", severity: .warning))
        }
        diagnostics = diagnostics.sortedByLocation()
        guard !diagnostics.hasErrors else { return Result(fleet: nil, diagnostics: diagnostics) }
        let fleet = Fleet(instances: instances, prefixes: prefixes, waves: waves,
                          policy: policies.first ?? Policy(), tenants: tenants, groups: groups, groupOfInstance: groupOfInstance)
        return Result(fleet: fleet, diagnostics: diagnostics)
    }

    /// Instances by name; files are usually written in name order, so check before sorting.
    /// `distinct` is true when they came strictly ascending: no name repeats, nothing to look for.
    static func sortedByName(_ instances: [Instance]) -> (instances: [Instance], distinct: Bool) {
        let ascending = OrderedChunks.ranges(count: instances.count, minimumPerChunk: 8192) { range in
            range.allSatisfy { $0 == 0 || instances[$0 - 1].name < instances[$0].name }
        }
        return ascending.allSatisfy { $0 } ? (instances, true) : (instances.sorted { $0.name < $1.name }, false)
    }

    /// Names sorted, so duplicates are neighbours; each repeat is reported against the first
    /// declaration in file order.
    static func checkUniqueNames(_ count: Int, name: (Int) -> Located<String>, kind: ManifestKind,
                                 into diagnostics: inout [Diagnostic]) {
        var index = 1
        while index < count {
            guard name(index).value == name(index - 1).value else { index += 1; continue }
            var run = [name(index - 1)]
            while index < count && name(index).value == run[0].value {
                run.append(name(index))
                index += 1
            }
            run.sort { $0.location < $1.location }
            for repeated in run.dropFirst() {
                diagnostics.append(Diagnostic(.duplicateName, at: repeated.location,
                                              "\(kind.rawValue) '\(repeated.value)' is declared twice",
                                              hint: "the first is at \(run[0].location); names are unique per kind"))
            }
        }
    }

    static func checkWaves(_ waves: [Wave], unreadable: UnreadableDocuments, into diagnostics: inout [Diagnostic]) {
        var byName: [String: Wave] = [:]
        for wave in waves where byName[wave.name] == nil { byName[wave.name] = wave }
        for wave in waves {
            if wave.window.end <= wave.window.start {
                diagnostics.append(Diagnostic(.windowOrder, at: wave.windowLocation,
                                              "window of wave '\(wave.name)' ends (\(wave.window.end)) before or when it starts (\(wave.window.start))",
                                              hint: "the end must be after the start"))
            }
            for reference in wave.after where byName[reference.value] == nil && !unreadable.mayDeclare(.wave, named: reference.value) {
                diagnostics.append(Diagnostic(.danglingReference, at: reference.location,
                                              "wave '\(wave.name)' comes after '\(reference.value)', which is not a declared Wave",
                                              hint: Spelling.closest(to: reference.value, among: Array(byName.keys)).map { "did you mean '\($0)'?" }))
            }
        }
        // Cycles in `after`: depth-first search, reporting each cycle once at its first wave.
        var state: [String: Int] = [:]  // 1 visiting, 2 done
        var reported = Set<String>()
        func visit(_ name: String, path: [String]) {
            guard let wave = byName[name] else { return }
            state[name] = 1
            for reference in wave.after {
                let next = reference.value
                if state[next] == 1 {
                    let cycle = Array(path.drop(while: { $0 != next })) + [name, next]
                    let key = Set(cycle).sorted().joined(separator: ",")
                    if reported.insert(key).inserted {
                        diagnostics.append(Diagnostic(.afterCycle, at: reference.location,
                                                      "waves wait for each other: \(cycle.joined(separator: " -> "))",
                                                      hint: "remove one of these 'after' entries"))
                    }
                } else if state[next] == nil {
                    visit(next, path: path + [name])
                }
            }
            state[name] = 2
        }
        for wave in waves.sorted(by: { $0.name < $1.name }) where state[wave.name] == nil {
            visit(wave.name, path: [])
        }
    }

    /// Prefixes that passed their own checks, indexed for address lookup.
    struct PrefixTable: Sendable {
        var count = 0
        var lengths: [Int] = []
        var byNetwork: [AddressBlock: Int] = [:]

        func prefix(containing address: IPAddress) -> Int? {
            var hint: Hit?
            return prefix(containing: address, hint: &hint)
        }

        /// A prefix found at the most specific length declared for its family: any address it
        /// holds is in no other (more specific) prefix, so the next lookup can try it first.
        struct Hit {
            var block: AddressBlock
            var index: Int
        }

        /// The most specific prefix holding `address`; `hint` (an earlier answer, updated here)
        /// saves the hashing when neighbouring addresses share a prefix, as they usually do.
        func prefix(containing address: IPAddress, hint: inout Hit?) -> Int? {
            if let hint, hint.block.contains(address) { return hint.index }
            var mostSpecific = true
            for length in lengths where length <= address.bitWidth {
                let block = AddressBlock(network: address, length: length)
                if let index = byNetwork[block] {
                    hint = mostSpecific ? Hit(block: block, index: index) : nil
                    return index
                }
                mostSpecific = false
            }
            return nil
        }
    }

    static func checkPrefixes(_ prefixes: [AddressPrefix], into diagnostics: inout [Diagnostic]) -> PrefixTable {
        var table = PrefixTable()
        table.count = prefixes.count
        var lengths = Set<Int>()
        // Prefixes in space that is not public, by range: one warning per range, so a lab of
        // thousands of loopback prefixes gets a few lines, not thousands.
        var nonPublic: [AddressBlock: (range: AddressSpace.Range, prefixes: [Int])] = [:]
        for (index, prefix) in prefixes.enumerated() {
            let block = prefix.cidr.value
            let limit = AddressSpace.mostSpecificLength(bitWidth: block.network.bitWidth)
            let largest = AddressSpace.leastSpecificLength(bitWidth: block.network.bitWidth)
            if block.length > limit {
                diagnostics.append(Diagnostic(.prefixSize, at: prefix.cidr.location,
                                              "prefix '\(prefix.name)' (\(block)) is smaller than a BYOIP prefix may be: \(block.network.family) needs /\(limit) or larger",
                                              hint: "declare the whole /\(limit) that holds it: \(AddressBlock(network: block.network, length: limit))"))
            } else if block.length < largest {
                diagnostics.append(Diagnostic(.prefixSize, at: prefix.cidr.location,
                                              "prefix '\(prefix.name)' (\(block)) is larger than a BYOIP prefix can be: \(block.network.family) prefixes run from /\(largest) to /\(limit)",
                                              hint: "declare the registered range you bring to AWS, /\(largest) to /\(limit)"))
            } else if let range = AddressSpace.nonPublicRange(overlapping: block) {
                nonPublic[range.block, default: (range, [])].prefixes.append(index)
            }
            if table.byNetwork[block] == nil {
                table.byNetwork[block] = index
                lengths.insert(block.length)
            }
        }
        for (range, members) in nonPublic.values {
            let first = members.min { prefixes[$0].cidr.location < prefixes[$1].cidr.location }!
            let prefix = prefixes[first]
            let others = members.count - 1
            diagnostics.append(Diagnostic(
                .nonPublicAddress, at: prefix.cidr.location,
                others == 0
                    ? "prefix '\(prefix.name)' (\(prefix.cidr.value)) is in \(range.block), \(range.purpose): not publicly routable, so BYOIP cannot take it"
                    : "prefix '\(prefix.name)' (\(prefix.cidr.value)) and \(others) more are in \(range.block), \(range.purpose): not publicly routable, so BYOIP cannot take them",
                hint: "fine for a lab or a test; a real fleet sends from public space", severity: .warning))
        }
        // Overlaps: in address order, a block overlaps an earlier one only if one contains the other.
        let sorted = prefixes.indices.sorted { prefixes[$0].cidr.value < prefixes[$1].cidr.value }
        var open: [Int] = []
        for index in sorted {
            let block = prefixes[index].cidr.value
            while let last = open.last, !prefixes[last].cidr.value.overlaps(block) { open.removeLast() }
            if let last = open.last {
                let other = prefixes[last]
                diagnostics.append(Diagnostic(.prefixOverlap, at: prefixes[index].cidr.location,
                                              "prefix '\(prefixes[index].name)' (\(block)) overlaps '\(other.name)' (\(other.cidr.value)) at \(other.cidr.location)",
                                              hint: "a BYOIP address belongs to exactly one prefix; remove one"))
            }
            open.append(index)
        }
        table.lengths = lengths.sorted(by: >)
        return table
    }
}
