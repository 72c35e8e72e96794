import SendpathCore

/// Decodes the documents of one manifest file straight from libyaml's events into the
/// typed model, reporting every schema problem it meets and carrying on after each.
///
/// Scalars are decoded by the field's type, never guessed: `build: 7.3` is the string
/// "7.3", `environment: yes` is a bad enum value. Merge keys (`<<`) are refused.
final class ManifestFileDecoder {
    let file: String
    let reader: YAMLEventReader
    private(set) var diagnostics: [Diagnostic] = []

    func diagnosticsAppend(_ diagnostic: Diagnostic) { diagnostics.append(diagnostic) }
    private(set) var documents = ManifestSet()

    init(file: String, bytes: some Collection<UInt8>, limits: YAMLLimits) {
        self.file = file
        self.reader = YAMLEventReader(bytes: bytes, limits: limits)
    }

    func decode() {
        var documentStart = 0
        do {
            while true {
                let event = try reader.next()
                switch event.kind {
                case .streamStart, .documentEnd:
                    continue
                case .streamEnd:
                    return
                case .documentStart:
                    documentStart = diagnostics.count
                    try decodeDocument(start: event)
                default:
                    try skip(event)
                }
            }
        } catch {
            // What was found in a document the reader cannot finish is noise next to the reason.
            diagnostics.removeSubrange(documentStart...)
            let rule: DiagnosticRule = switch error.kind {
            case .syntax: .yamlSyntax
            case .nestingTooDeep: .nestingTooDeep
            case .aliasBudget: .aliasBudget
            case .unknownAlias: .unknownAlias
            }
            let hint: String? = switch error.kind {
            case .syntax: YAMLSyntaxHint.hint(for: error.message, line: reader.lineBytes(error.line), column: error.column)
            case .nestingTooDeep: "manifests need only a few levels; this looks like generated or hostile input"
            case .aliasBudget: "aliases that expand to many nodes look like a billion-laughs attack; write the values out"
            case .unknownAlias: "define the anchor (&name) before the alias (*name), in the same document"
            }
            report(rule, line: error.line, column: error.column, error.message, hint: hint)
            // The rest of the file is unread: it may declare anything.
            documents.unreadable.someKindUnknown = true
        }
    }

    // MARK: - Documents

    private func decodeDocument(start: YAMLEvent) throws(YAMLReadError) {
        let root = try reader.next()
        if root.isNull || root.kind == .documentEnd { return }
        guard root.kind == .mappingStart else {
            report(.wrongType, at: root,
                   "a manifest document must be a mapping with apiVersion, kind, metadata and spec, found \(describe(root))")
            try skip(root)
            documents.unreadable.add(kind: nil, name: nil)
            return
        }
        var apiVersionOK = false
        var kind: ManifestKind?
        var kindKnown = true
        var metadata: Metadata?
        var spec: ManifestDocument?
        var pendingSpec: [RecordedYAMLEvent]?
        var specHasMetadata = false
        let documentLocation = location(of: root)
        let complete = try forEachField(of: FieldTable.document, opening: root) { (name, key) throws(YAMLReadError) in
            switch name {
            case "apiVersion":
                if let value = try readScalar("apiVersion", in: ManifestSchema.document, .constant(ManifestSchema.apiVersion)) {
                    if value.equals("sendpath/v1") {
                        apiVersionOK = true
                    } else {
                        report(.badAPIVersion, at: value, "apiVersion must be '\(ManifestSchema.apiVersion)', found '\(Escaped.value(value.string))'",
                               hint: "this version of sendpath reads \(ManifestSchema.apiVersion) manifests")
                    }
                }
            case "kind":
                kind = try readEnum("kind", in: ManifestSchema.document, ManifestKind.self)
                kindKnown = kind != nil
            case "metadata":
                metadata = try decodeMetadata(documentLocation: documentLocation)
            default:  // spec
                if let kind {
                    specHasMetadata = metadata != nil
                    spec = try decodeSpec(kind, metadata: metadata, documentLocation: documentLocation)
                } else {
                    pendingSpec = try reader.captureNode()
                }
            }
        }
        if let pendingSpec, let kind {
            reader.replay(pendingSpec)
            specHasMetadata = metadata != nil
            spec = try decodeSpec(kind, metadata: metadata, documentLocation: documentLocation)
        }
        _ = kindKnown
        guard complete, apiVersionOK, let metadata, let spec else {
            documents.unreadable.add(kind: kind, name: metadata?.name.value)
            return
        }
        documents.append(specHasMetadata ? spec : spec.withMetadata(metadata))
    }

    private func decodeMetadata(documentLocation: SourceLocation) throws(YAMLReadError) -> Metadata? {
        let table = FieldTable.metadata
        guard let opening = try readMapping("metadata", in: ManifestSchema.document) else { return nil }
        var name: Located<String>?
        var labels: [String: String] = [:]
        let complete = try forEachField(of: table, opening: opening) { (field, _) throws(YAMLReadError) in
            if field == "name" {
                name = try readName("name", in: table.schema)
            } else {
                labels = try readStringMap("labels", in: table.schema) ?? [:]
            }
        }
        guard complete, let name else { return nil }
        return Metadata(name: name, labels: labels, documentLocation: documentLocation)
    }

    private func decodeSpec(_ kind: ManifestKind, metadata: Metadata?, documentLocation: SourceLocation) throws(YAMLReadError) -> ManifestDocument? {
        let placeholder = metadata ?? Metadata(name: Located("", at: documentLocation), documentLocation: documentLocation)
        switch kind {
        case .instance: return try decodeInstanceSpec(placeholder).map(ManifestDocument.instance)
        case .addressPrefix: return try decodeAddressPrefixSpec(placeholder).map(ManifestDocument.addressPrefix)
        case .wave: return try decodeWaveSpec(placeholder).map(ManifestDocument.wave)
        case .policy: return try decodePolicySpec(placeholder).map(ManifestDocument.policy)
        case .tenant: return try decodeTenantSpec(placeholder).map(ManifestDocument.tenant)
        }
    }

    private func decodeInstanceSpec(_ metadata: Metadata) throws(YAMLReadError) -> Instance? {
        let table = FieldTable.instanceSpec
        guard let opening = try readMapping("spec", in: ManifestSchema.document) else { return nil }
        var tenant: String?, product: Product?, hosting: Hosting?, environment: Environment?, build: String?
        var ips: [Located<IPAddress>]?, path: Located<SendingPath>?, wave: Located<String>?
        let complete = try forEachField(of: table, opening: opening) { (field, _) throws(YAMLReadError) in
            switch field {
            case "tenant": tenant = try readString("tenant", in: table.schema)?.value
            case "product": product = try readEnum("product", in: table.schema, Product.self)
            case "hosting": hosting = try readEnum("hosting", in: table.schema, Hosting.self)
            case "environment": environment = try readEnum("environment", in: table.schema, Environment.self)
            case "build": build = try readString("build", in: table.schema)?.value
            case "sendingIPs": ips = try readList("sendingIPs", in: table.schema, nonEmpty: true) { event in self.ipAddress(event) }
            case "sendingPath": path = try decodeSendingPath()
            default: wave = try readName("wave", in: table.schema)
            }
        }
        guard complete, let tenant, let product, let hosting, let environment, let build, let ips, let path, let wave,
              ips.count > 0 else { return nil }
        return Instance(metadata: metadata, tenant: tenant, product: product, hosting: hosting, environment: environment,
                        build: build, sendingIPs: ips, sendingPath: path, wave: wave)
    }

    private func decodeSendingPath() throws(YAMLReadError) -> Located<SendingPath>? {
        let table = FieldTable.sendingPath
        guard let opening = try readMapping("sendingPath", in: ManifestSchema.instanceSpec) else { return nil }
        var infrastructure: Infrastructure?
        var location: Located<String>?
        let complete = try forEachField(of: table, opening: opening) { (field, _) throws(YAMLReadError) in
            if field == "infrastructure" {
                infrastructure = try readEnum("infrastructure", in: table.schema, Infrastructure.self)
            } else {
                location = try readString("location", in: table.schema)
            }
        }
        guard complete, let infrastructure, let location else { return nil }
        if infrastructure == .aws && !AWSRegion.isValid(location.value) {
            diagnostics.append(Diagnostic(.badValue, at: location.location,
                                          "'location' of an aws sendingPath must be an AWS region, found '\(Escaped.value(location.value))'",
                                          hint: "for example eu-west-1 or us-east-1"))
            return nil
        }
        return Located(SendingPath(infrastructure: infrastructure, location: location.value), at: self.location(of: opening))
    }

    private func decodeAddressPrefixSpec(_ metadata: Metadata) throws(YAMLReadError) -> AddressPrefix? {
        let table = FieldTable.addressPrefixSpec
        guard let opening = try readMapping("spec", in: ManifestSchema.document) else { return nil }
        var cidr: Located<AddressBlock>?
        var region: Located<String>?
        var regionOK = true
        let complete = try forEachField(of: table, opening: opening) { (field, _) throws(YAMLReadError) in
            if field == "cidr" {
                cidr = try readCIDR("cidr", in: table.schema)
            } else {
                region = try readString("awsRegion", in: table.schema)
                if let region, !AWSRegion.isValid(region.value) {
                    regionOK = false
                    diagnostics.append(Diagnostic(.badValue, at: region.location, "'awsRegion' must be an AWS region, found '\(Escaped.value(region.value))'",
                                                  hint: "for example eu-west-1 or us-east-1"))
                }
            }
        }
        guard complete, regionOK, let cidr else { return nil }
        return AddressPrefix(metadata: metadata, cidr: cidr, awsRegion: region)
    }

    private func decodeWaveSpec(_ metadata: Metadata) throws(YAMLReadError) -> Wave? {
        let table = FieldTable.waveSpec
        guard let opening = try readMapping("spec", in: ManifestSchema.document) else { return nil }
        var window: Window?, windowLocation: SourceLocation?
        var maxParallel = 1, maxParallelOK = true
        var after: [Located<String>]? = []
        var noticeOK = true, controlsOK = true
        var notice: Located<Timestamp>?
        var approval = ApprovalPolicy.none, canary: CanaryPolicy?, maxFailures: FailureBudget?
        let complete = try forEachField(of: table, opening: opening) { (field, _) throws(YAMLReadError) in
            switch field {
            case "approval":
                if let value = try readEnum("approval", in: table.schema, ApprovalPolicy.self) { approval = value } else { controlsOK = false }
            case "canary":
                guard let start = try readMapping("canary", in: table.schema) else { controlsOK = false; return }
                var groups: Int?, bake: Duration?
                let whole = try forEachField(of: FieldTable.canary, opening: start) { (part, _) throws(YAMLReadError) in
                    if part == "groups" { groups = try readInteger("groups", in: ManifestSchema.canary, minimum: 1, maximum: 10_000) }
                    else { bake = try readDuration("bake", in: ManifestSchema.canary) }
                }
                if whole, let groups, let bake { canary = CanaryPolicy(groups: groups, bake: bake) } else { controlsOK = false }
            case "maxFailures":
                if let value = try readFailureBudget("maxFailures", in: table.schema) { maxFailures = value } else { controlsOK = false }
            case "window":
                if let start = try readMapping("window", in: table.schema) {
                    windowLocation = location(of: start)
                    var from: Located<Timestamp>?, to: Located<Timestamp>?
                    let whole = try forEachField(of: FieldTable.window, opening: start) { (part, _) throws(YAMLReadError) in
                        if part == "start" { from = try readTime("start", in: ManifestSchema.window) }
                        else { to = try readTime("end", in: ManifestSchema.window) }
                    }
                    if whole, let from, let to { window = Window(start: from.value, end: to.value) }
                }
            case "maxParallel":
                if let value = try readInteger("maxParallel", in: table.schema, minimum: 1, maximum: 10_000) { maxParallel = value } else { maxParallelOK = false }
            case "after":
                after = try readList("after", in: table.schema, nonEmpty: false) { event in self.name(event, field: "after") }
            default:
                noticeOK = false
                if let start = try readMapping("notice", in: table.schema) {
                    let whole = try forEachField(of: FieldTable.notice, opening: start) { (_, _) throws(YAMLReadError) in
                        notice = try readTime("sentAt", in: ManifestSchema.notice)
                    }
                    noticeOK = whole && notice != nil
                }
            }
        }
        guard complete, maxParallelOK, noticeOK, controlsOK, let window, let windowLocation, let after else { return nil }
        return Wave(metadata: metadata, window: window, windowLocation: windowLocation, maxParallel: maxParallel,
                    after: after, noticeSentAt: notice, approval: approval, canary: canary, maxFailures: maxFailures)
    }

    private func decodePolicySpec(_ metadata: Metadata) throws(YAMLReadError) -> Policy? {
        let table = FieldTable.policySpec
        guard let opening = try readMapping("spec", in: ManifestSchema.document) else { return nil }
        var policy = Policy(metadata: metadata)
        var ok = true
        let complete = try forEachField(of: table, opening: opening) { (field, _) throws(YAMLReadError) in
            switch field {
            case "noticeLeadTime":
                guard let start = try readMapping("noticeLeadTime", in: table.schema) else { ok = false; return }
                let leadSchema = ManifestSchema.noticeLeadTime
                ok = try forEachField(of: FieldTable.noticeLeadTime, opening: start) { (environment, _) throws(YAMLReadError) in
                    if let value = try readDuration(environment, in: leadSchema) {
                        policy.noticeLeadTime[Environment(rawValue: environment)!] = value
                    } else {
                        ok = false
                    }
                } && ok
            case "bakeTime":
                if let value = try readDuration(field, in: table.schema) { policy.bakeTime = value } else { ok = false }
            case "rollbackReserve":
                if let value = try readDuration(field, in: table.schema) { policy.rollbackReserve = value } else { ok = false }
            case "resendMaxAge":
                if let value = try readDuration(field, in: table.schema) { policy.resendMaxAge = value } else { ok = false }
            default:
                if let value = try readEnum(field, in: table.schema, VerificationFailurePolicy.self) {
                    policy.onVerificationFailure = value
                } else { ok = false }
            }
        }
        return complete && ok ? policy : nil
    }
}

extension ManifestDocument {
    func withMetadata(_ metadata: Metadata) -> ManifestDocument {
        switch self {
        case .instance(var value): value.metadata = metadata; return .instance(value)
        case .addressPrefix(var value): value.metadata = metadata; return .addressPrefix(value)
        case .wave(var value): value.metadata = metadata; return .wave(value)
        case .policy(var value): value.metadata = metadata; return .policy(value)
        case .tenant(var value): value.metadata = metadata; return .tenant(value)
        }
    }
}
