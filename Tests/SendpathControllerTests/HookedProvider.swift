import SendpathCore

/// A provider that forwards every call to `inner`, with hooks a test sets: something to do
/// before a mutating call of a step, the highest fencing token it reports, and a rewrite of
/// the prefixes it observes.
struct HookedProvider: Provider {
    let inner: any Provider
    var before: @Sendable (StepName) async -> Void = { _ in }
    var highestToken: (@Sendable () -> FencingToken)?
    var rewritePrefixes: (@Sendable ([AddressBlock: ObservedPrefix]) -> [AddressBlock: ObservedPrefix])?

    func highestFencingToken() async throws(ProviderError) -> FencingToken {
        if let highestToken { return highestToken() }
        return try await inner.highestFencingToken()
    }
    func observeInstances(_ names: [String], step: StepName?) async throws(ProviderError) -> [String: ObservedInstance] {
        try await inner.observeInstances(names, step: step)
    }
    func observePrefixes(_ cidrs: [AddressBlock]) async throws(ProviderError) -> [AddressBlock: ObservedPrefix] {
        let observed = try await inner.observePrefixes(cidrs)
        return rewritePrefixes?(observed) ?? observed
    }
    func prepareTarget(_ change: PathChange, context: MutationContext) async throws(ProviderError) {
        await before(.prepareTarget)
        try await inner.prepareTarget(change, context: context)
    }
    func freeze(_ instances: [String], context: MutationContext) async throws(ProviderError) {
        await before(.freeze)
        try await inner.freeze(instances, context: context)
    }
    func snapshotQueue(_ instances: [String], context: MutationContext) async throws(ProviderError) -> [QueueSnapshot] {
        await before(.snapshotQueue)
        return try await inner.snapshotQueue(instances, context: context)
    }
    func switchPath(_ change: PathChange, context: MutationContext) async throws(ProviderError) {
        await before(.switchPath)
        try await inner.switchPath(change, context: context)
    }
    func resend(_ instances: [String], snapshotKey: String, maxAge: Duration,
                context: MutationContext) async throws(ProviderError) -> [ResendResult] {
        await before(.resendQueue)
        return try await inner.resend(instances, snapshotKey: snapshotKey, maxAge: maxAge, context: context)
    }
    func unfreeze(_ instances: [String], context: MutationContext) async throws(ProviderError) {
        await before(.unfreeze)
        try await inner.unfreeze(instances, context: context)
    }
    func rollbackPath(_ change: PathChange, context: MutationContext) async throws(ProviderError) {
        await before(.rollbackPath)
        try await inner.rollbackPath(change, context: context)
    }
}
