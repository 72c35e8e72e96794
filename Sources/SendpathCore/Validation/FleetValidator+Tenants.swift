extension FleetValidator {
    /// Warns when instances of different tenants send from one prefix: a prefix moves whole, so
    /// the tenants are merged into one cut-over group (one window, one notice, one rollback).
    /// Each instance whose tenant differs from the prefix's first instance (by name) is named,
    /// at its IP in that prefix.
    static func checkTenants(_ instances: [Instance], prefixes: [AddressPrefix], membership: Membership,
                             into diagnostics: inout [Diagnostic]) {
        for (prefixIndex, members) in membership.instancesByPrefix.enumerated() where members.count > 1 {
            let first = instances[members[0]]
            let block = prefixes[prefixIndex].cidr.value
            for index in members.dropFirst() where instances[index].tenant != first.tenant {
                let instance = instances[index]
                let ip = instance.sendingIPs.first { block.contains($0.value) } ?? instance.sendingIPs[0]
                diagnostics.append(Diagnostic(
                    .tenantsSharePrefix, at: ip.location,
                    "instance '\(instance.name)' of tenant '\(Escaped.value(instance.tenant))' sends from prefix '\(prefixes[prefixIndex].name)' (\(block)), as does '\(first.name)' of tenant '\(Escaped.value(first.tenant))': the two tenants move in one cut-over group",
                    hint: "give each tenant its own prefix, unless one window and one notice for both is meant",
                    severity: .warning))
            }
        }
    }

    /// Warns about a Tenant that no instance names: its contacts would never be told anything,
    /// which is usually a misspelt id on one side.
    static func checkTenantDocuments(_ tenants: [Tenant], instances: [Instance], unreadable: UnreadableDocuments,
                                     into diagnostics: inout [Diagnostic]) {
        guard !tenants.isEmpty, !unreadable.mayDeclareAny(.instance) else { return }
        let named = Set(instances.map(\.tenant))
        for tenant in tenants where !named.contains(tenant.name) {
            diagnostics.append(Diagnostic(
                .unusedTenant, at: tenant.metadata.name.location,
                "Tenant '\(tenant.name)' is named by no instance's spec.tenant; its contacts get no notice",
                hint: Spelling.closest(to: tenant.name, among: Array(named)).map { "did you mean '\($0)'?" }
                    ?? "remove it, or name it in the spec.tenant of its instances",
                severity: .warning))
        }
    }
}
