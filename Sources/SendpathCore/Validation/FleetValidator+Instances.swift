extension FleetValidator {
    /// Which prefixes each instance's IPs fall in, and which instances each prefix holds.
    struct Membership: Sendable {
        var prefixesByInstance = IndexLists()
        var instancesByPrefix: [[Int]] = []
    }

    /// Lists of indices, one per item, stored flat (no array per item): item `i`'s list is
    /// `values[offsets[i]..<offsets[i + 1]]`.
    struct IndexLists: Sendable {
        private(set) var offsets: [Int] = [0]
        private(set) var values: [Int] = []

        var count: Int { offsets.count - 1 }

        subscript(item: Int) -> ArraySlice<Int> { values[offsets[item]..<offsets[item + 1]] }

        /// Adds `value` to the list being built, unless it holds it already.
        mutating func insertInOpenList(_ value: Int) -> Bool {
            guard !values[offsets[offsets.count - 1]...].contains(value) else { return false }
            values.append(value)
            return true
        }

        /// Ends the list being built: it becomes the last item's.
        mutating func closeList() { offsets.append(values.count) }

        mutating func append(contentsOf other: IndexLists) {
            let shift = values.count
            values += other.values
            offsets += other.offsets.dropFirst().lazy.map { $0 + shift }
        }
    }

    /// What a run of instances shows on its own: each one's prefixes, its problems, and its IPs
    /// as plain values (the check for repeats then reads no instance, and counts no reference).
    private struct InstanceFindings: Sendable {
        var prefixes = IndexLists()
        var diagnostics: [Diagnostic] = []
        var ips: [ListedIP] = []
    }

    /// One entry of an instance's `sendingIPs`, with the prefix it falls in (-1: none).
    private struct ListedIP: Sendable {
        var address: IPAddress
        var instance: Int32
        var position: Int32
        var prefix: Int32
    }

    /// Each instance's wave, target and prefixes, then IPs across instances. Instances are
    /// checked in chunks over the cores, and repeated IPs prefix by prefix (equal addresses fall
    /// in the same prefix); diagnostics are sorted by location afterwards, so the split does not show.
    static func checkInstances(_ instances: [Instance], waveNames: Set<String>, prefixes: PrefixTable,
                               unreadable: UnreadableDocuments, into diagnostics: inout [Diagnostic]) -> Membership {
        let parts = OrderedChunks.ranges(count: instances.count, minimumPerChunk: 2048) { range in
            findings(of: instances, range, waveNames: waveNames, prefixes: prefixes, unreadable: unreadable)
        }
        diagnostics += duplicateIPs(in: parts.map(\.ips), of: instances, prefixCount: prefixes.count)
        var membership = Membership()
        membership.instancesByPrefix = Array(repeating: [], count: prefixes.count)
        for part in parts {
            diagnostics += part.diagnostics
            membership.prefixesByInstance.append(contentsOf: part.prefixes)
        }
        for index in instances.indices {
            for prefix in membership.prefixesByInstance[index] { membership.instancesByPrefix[prefix].append(index) }
        }
        return membership
    }

    private static func findings(of instances: [Instance], _ range: Range<Int>, waveNames: Set<String>,
                                 prefixes: PrefixTable, unreadable: UnreadableDocuments) -> InstanceFindings {
        var found = InstanceFindings()
        found.ips.reserveCapacity(range.count * 2)
        // Neighbours usually share a wave and a prefix: the last ones found are tried first.
        var declaredWave: String?
        var hint: PrefixTable.Hit?
        for index in range {
            let wave = instances[index].wave
            if wave.value == declaredWave {
                // declared: checked on an earlier instance
            } else if waveNames.contains(wave.value) {
                declaredWave = wave.value
            } else if !unreadable.mayDeclare(.wave, named: wave.value) {
                found.diagnostics.append(Diagnostic(.danglingReference, at: wave.location,
                                                    "instance '\(instances[index].name)' is in wave '\(wave.value)', which is not a declared Wave",
                                                    hint: Spelling.closest(to: wave.value, among: Array(waveNames)).map { "did you mean '\($0)'?" }))
            }
            if instances[index].hosting == .onPremise && instances[index].sendingPath.value.infrastructure == .aws {
                found.diagnostics.append(Diagnostic(.onPremiseTarget, at: instances[index].sendingPath.location,
                                                    "instance '\(instances[index].name)' is on-premise and cannot be targeted at aws",
                                                    hint: "on-premise instances are not migrated; target adobe-dc or remove the instance"))
            }
            for (position, ip) in instances[index].sendingIPs.enumerated() {
                let prefix = prefixes.prefix(containing: ip.value, hint: &hint)
                found.ips.append(ListedIP(address: ip.value, instance: Int32(index), position: Int32(position),
                                          prefix: Int32(prefix ?? -1)))
                if let prefix {
                    _ = found.prefixes.insertInOpenList(prefix)
                } else if !unreadable.mayDeclareAny(.addressPrefix) {
                    found.diagnostics.append(Diagnostic(.ipOutsidePrefix, at: ip.location,
                                                        "IP \(ip.value) of instance '\(instances[index].name)' is in no declared AddressPrefix",
                                                        hint: "declare the \(ip.value.family == "IPv4" ? "/24" : "/48") (or larger) BYOIP prefix that holds it"))
                }
            }
            found.prefixes.closeList()
        }
        return found
    }

    /// IPs listed twice, on one instance or on two: each repeat is reported against the first
    /// instance (by name) that lists it. Equal addresses fall in the same prefix (or in none), so
    /// the entries are put in buckets by prefix, in listing order, and each bucket (a few hundred
    /// entries) is sorted on its own, over the cores: no hashing of every address.
    private static func duplicateIPs(in listed: [[ListedIP]], of instances: [Instance], prefixCount: Int) -> [Diagnostic] {
        let all = Array(listed.joined())
        // Bucket `prefixCount` holds the addresses outside every prefix.
        var offsets = [Int](repeating: 0, count: prefixCount + 2)
        for entry in all { offsets[Int(entry.prefix < 0 ? Int32(prefixCount) : entry.prefix) + 1] += 1 }
        for bucket in 0...prefixCount { offsets[bucket + 1] += offsets[bucket] }
        var next = offsets
        var order = [Int32](repeating: 0, count: all.count)
        for (index, entry) in all.enumerated() {
            let bucket = entry.prefix < 0 ? prefixCount : Int(entry.prefix)
            order[next[bucket]] = Int32(index)
            next[bucket] += 1
        }
        let found = OrderedChunks.ranges(count: prefixCount + 1, minimumPerChunk: 64) { [order, offsets] buckets in
            var diagnostics: [Diagnostic] = []
            for bucket in buckets where offsets[bucket + 1] - offsets[bucket] > 1 {
                // By address, then by listing order: the first of each run of equals owns it.
                let entries = order[offsets[bucket]..<offsets[bucket + 1]].sorted {
                    all[Int($0)].address != all[Int($1)].address ? all[Int($0)].address < all[Int($1)].address : $0 < $1
                }
                var owner = 0
                for place in entries.indices {
                    let ip = all[Int(entries[place])]
                    guard place > 0, ip.address == all[Int(entries[place - 1])].address else {
                        owner = Int(ip.instance)
                        continue
                    }
                    let index = Int(ip.instance)
                    let message = owner == index
                        ? "IP \(ip.address) is listed twice on instance '\(instances[index].name)'"
                        : "IP \(ip.address) is declared on both '\(instances[owner].name)' and '\(instances[index].name)'"
                    diagnostics.append(Diagnostic(.duplicateIP, at: instances[index].sendingIPs[Int(ip.position)].location, message,
                                                  hint: "an IP sends for exactly one instance"))
                }
            }
            return diagnostics
        }
        return Array(found.joined())
    }
}
