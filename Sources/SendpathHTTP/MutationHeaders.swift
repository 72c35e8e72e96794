import Hummingbird
import HTTPTypes
import SendpathCore

/// Reads and checks the three headers of a mutating call into a ``MutationContext``.
enum MutationHeaders {
    static let idempotencyKey = HTTPField.Name(ProviderAPI.idempotencyKeyHeader)!
    static let fencingToken = HTTPField.Name(ProviderAPI.fencingTokenHeader)!
    static let step = HTTPField.Name(ProviderAPI.stepHeader)!

    /// The call's context; a 400 naming every missing or invalid header otherwise.
    static func context(from headers: HTTPFields) throws(APIError) -> MutationContext {
        var problems: [String] = []
        let key = headers[idempotencyKey]
        if key == nil {
            problems.append("missing header \(ProviderAPI.idempotencyKeyHeader)")
        } else if let key, !ProviderAPI.isValidIdempotencyKey(key) {
            problems.append("\(ProviderAPI.idempotencyKeyHeader) must be 1 to \(ProviderAPI.maxIdempotencyKeyLength) printable ASCII characters")
        }
        let tokenText = headers[fencingToken]
        let token = tokenText.flatMap(ProviderAPI.parseFencingToken)
        if tokenText == nil {
            problems.append("missing header \(ProviderAPI.fencingTokenHeader)")
        } else if token == nil {
            problems.append("\(ProviderAPI.fencingTokenHeader) must be an integer from 0 to \(Int64.max)")
        }
        let stepText = headers[step]
        let stepName = stepText.flatMap(StepName.init(rawValue:))
        if stepText == nil {
            problems.append("missing header \(ProviderAPI.stepHeader)")
        } else if stepName == nil {
            problems.append("\(ProviderAPI.stepHeader) must be a step name (\(StepName.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard problems.isEmpty, let key, let token, let stepName else {
            throw APIError.badRequest(problems.joined(separator: "; "))
        }
        return MutationContext(idempotencyKey: key, fencingToken: token, step: stepName)
    }

    /// The well-formed mutation headers, as log metadata (malformed values are not logged).
    static func loggable(_ headers: HTTPFields) -> [(String, String)] {
        var result: [(String, String)] = []
        if let key = headers[idempotencyKey], ProviderAPI.isValidIdempotencyKey(key) {
            result.append(("idempotency.key", key))
        }
        if let step = headers[step].flatMap(StepName.init(rawValue:)) {
            result.append(("step.name", step.rawValue))
        }
        if let token = headers[fencingToken].flatMap(ProviderAPI.parseFencingToken) {
            result.append(("fencing.token", token.description))
        }
        return result
    }
}
