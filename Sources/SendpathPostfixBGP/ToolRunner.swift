import SendpathCore
import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// What a tool printed and how it ended.
struct ToolOutput: Sendable {
    var status: Int32
    var stdout: [UInt8]
    var stderr: String

    var text: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs Postfix's and GoBGP's command-line tools, each call bounded by `timeout`: a tool that
/// does not finish in time is stopped (SIGTERM, then SIGKILL a second later) and the call is a
/// `timeout` provider error, never a hang. Tools are found in the system folders Debian
/// installs them in (`/usr/sbin`, `/usr/bin`), then on `PATH`.
struct ToolRunner: Sendable {
    var timeout: Duration
    /// Output kept per call: a queue listing of a very large queue is a few tens of MB.
    static let outputLimit = 256 << 20

    /// Runs `tool` and returns its output whatever its exit status (the caller judges it).
    func output(_ tool: String, _ arguments: [String], input: [UInt8]? = nil) async throws(ProviderError) -> ToolOutput {
        let executable = Self.locate(tool)
        let timeout = self.timeout
        let options = {
            var options = PlatformOptions()
            options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(1))]
            return options
        }()
        let command = ([tool] + arguments).joined(separator: " ")
        do {
            return try await withThrowingTaskGroup(of: ToolOutput?.self) { group in
                group.addTask {
                    let result = try await Subprocess.run(.path(FilePath(executable)), arguments: Arguments(arguments),
                                               platformOptions: options, input: .array(input ?? []),
                                               output: .bytes(limit: Self.outputLimit), error: .string(limit: 64 << 10))
                    let status: Int32
                    switch result.terminationStatus {
                    case .exited(let code): status = code
                    case .signaled(let signal): status = 128 + Int32(signal)
                    }
                    return ToolOutput(status: status, stdout: result.standardOutput, stderr: result.standardError)
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let output = first else {
                    throw ProviderError(.timeout, "'\(Escaped.value(command))' did not finish within \(timeout)")
                }
                return output
            }
        } catch let error as ProviderError {
            throw error
        } catch is CancellationError {
            throw ProviderError(.transient, "'\(Escaped.value(command))' was cancelled")
        } catch {
            throw ProviderError(.transient, "cannot run '\(Escaped.value(command))': \(Escaped.value(String(describing: error)))")
        }
    }

    /// Runs `tool` and requires exit status 0; otherwise a `transient` error naming the
    /// command and what it printed on stderr.
    @discardableResult
    func run(_ tool: String, _ arguments: [String], input: [UInt8]? = nil) async throws(ProviderError) -> ToolOutput {
        let result = try await output(tool, arguments, input: input)
        guard result.status == 0 else {
            let command = ([tool] + arguments).joined(separator: " ")
            let said = result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            throw ProviderError(.transient, "'\(Escaped.value(command))' exited with \(result.status)"
                                + (said.isEmpty ? "" : ": \(Escaped.value(said))"))
        }
        return result
    }

    /// The tool's absolute path: Debian's system folders first, then `PATH`.
    static func locate(_ tool: String) -> String {
        let path = ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":").map(String.init) ?? []
        for folder in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] + path where FileManager.default.isExecutableFile(atPath: folder + "/" + tool) {
            return folder + "/" + tool
        }
        return "/usr/sbin/" + tool
    }
}
