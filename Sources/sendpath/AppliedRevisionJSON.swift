import Foundation
import SendpathCore

/// The controller's `/status` member `appliedRevision`: the last apply's revision (commit,
/// dirty, manifest digest, user), host, time and outcome; `null` before any apply recorded one.
enum AppliedRevisionJSON {
    struct Member: Encodable {
        var gitCommit: String?
        var gitDirty: Bool?
        var manifestDigest: String
        var user: String?
        var host: String
        var at: Timestamp
        var outcome: Outcome?
    }

    static func splice(_ run: RunRecord?, into body: [UInt8]) -> [UInt8] {
        guard let brace = body.firstIndex(of: UInt8(ascii: "{")) else { return body }
        var member = Data("null".utf8)
        if let run, let revision = run.revision {
            let value = Member(gitCommit: revision.gitCommit, gitDirty: revision.gitDirty, manifestDigest: revision.manifestDigest,
                               user: revision.user, host: run.holder.host, at: run.startedAt, outcome: run.outcome)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            if let encoded = try? encoder.encode(value) { member = encoded }
        }
        var out = Array(body[...brace])
        out += Array("\n  \"appliedRevision\" : ".utf8) + Array(member) + Array(",".utf8)
        out += body[(brace + 1)...]
        return out
    }
}
