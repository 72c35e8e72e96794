import Foundation
import SendpathCore

/// The member `appliedRevision` of `status --output json` and the controller's `/status`: the last apply's revision (commit,
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
        var out: [UInt8] = []
        let write = splicing(run) { out += $0 }
        write(body)
        return out
    }

    /// A writer that passes a streamed report on to `write`, with the member put right after
    /// the report's opening brace (the first chunk holds it).
    static func splicing(_ run: RunRecord?, into write: @escaping ([UInt8]) -> Void) -> ([UInt8]) -> Void {
        var done = false
        return { chunk in
            guard !done, let brace = chunk.firstIndex(of: UInt8(ascii: "{")) else {
                write(chunk)
                return
            }
            done = true
            write(Array(chunk[...brace]) + Array("\n  \"appliedRevision\" : ".utf8) + member(run) + Array(",".utf8))
            write(Array(chunk[(brace + 1)...]))
        }
    }

    static func member(_ run: RunRecord?) -> [UInt8] {
        var member = Data("null".utf8)
        if let run, let revision = run.revision {
            let value = Member(gitCommit: revision.gitCommit, gitDirty: revision.gitDirty, manifestDigest: revision.manifestDigest,
                               user: revision.user, host: run.holder.host, at: run.startedAt, outcome: run.outcome)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            if let encoded = try? encoder.encode(value) { member = encoded }
        }
        return Array(member)
    }
}
