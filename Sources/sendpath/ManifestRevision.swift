import Foundation
import SendpathCore

/// What a run applies: the manifests' digest and, when they are in a Git work tree, the commit
/// and whether the manifests had uncommitted changes; and the user running it.
///
/// Git runs as a child process with a deadline (5 s each); a missing git, a folder outside any
/// work tree or a git that hangs gives no commit, never a failed run.
enum ManifestRevision {
    static let gitTimeout: TimeInterval = 5

    static func current(paths: [String], files: [String]) -> RunRevision {
        var revision = RunRevision(manifestDigest: ManifestOptions.digest(files: files), user: user())
        let absolute = paths.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        guard let first = absolute.first else { return revision }
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: first, isDirectory: &isDirectory)
        let folder = exists && isDirectory.boolValue ? first : (first as NSString).deletingLastPathComponent
        guard let head = git(["-C", folder, "rev-parse", "--verify", "HEAD"]),
              let commit = head.split(whereSeparator: \.isNewline).first.map(String.init),
              [40, 64].contains(commit.count), commit.allSatisfy(\.isHexDigit) else { return revision }
        revision.gitCommit = commit
        if let status = git(["-C", folder, "status", "--porcelain", "--untracked-files=normal", "--"] + absolute) {
            revision.gitDirty = !status.isEmpty
        }
        return revision
    }

    /// The user running sendpath: `$USER`, else the password database's name for the uid.
    static func user() -> String? {
        if let name = ProcessInfo.processInfo.environment["USER"], !name.isEmpty { return Escaped.value(name) }
        guard let entry = getpwuid(getuid()), let name = entry.pointee.pw_name else { return nil }
        return Escaped.value(String(cString: name))
    }

    /// Runs git (found on PATH) to its end within ``gitTimeout``; its stdout, or `nil` when it
    /// is missing, fails or takes too long.
    static func git(_ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git"] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["GIT_OPTIONAL_LOCKS"] = "0"  // status takes no index lock from under a concurrent git
        environment["GIT_TERMINAL_PROMPT"] = "0"
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do { try process.run() } catch { return nil }
        // Read while it runs: a large status must not fill the pipe and stall git.
        nonisolated(unsafe) var data = Data()
        let reader = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            data = output.fileHandleForReading.readDataToEndOfFile()
            reader.signal()
        }
        guard finished.wait(timeout: .now() + gitTimeout) == .success else {
            kill(process.processIdentifier, SIGKILL)
            return nil
        }
        reader.wait()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data.prefix(1 << 20), as: UTF8.self)
    }
}
