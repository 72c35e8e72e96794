import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs a program from a test with `posix_spawnp`, not Foundation's `Process`.
///
/// swift-corelibs-foundation's `Process.run` (Swift 6.3.1) reads `/proc/self/fd` with a
/// `memcpy` past the end of its buffer (`findMaximumOpenFromProcSelfFD`): AddressSanitizer
/// reports it every time, and in a test process holding a thousand descriptors (the
/// in-process suites run in parallel, each with database pools and sockets) it crashed with
/// SIGSEGV. The in-process tests start their helpers (sqlite3, psql, promtool, the built
/// binary) with this instead.
public struct ChildProcess: Sendable {
    public let pid: Int32
    private let output: Reader
    private let errors: Reader

    /// What a finished program printed and how it ended (exit status, or 128 + signal).
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    public struct SpawnError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Starts `arguments[0]` (found on `PATH` unless a path) with the rest as its arguments;
    /// writes `input` to its stdin and closes it; collects stdout and stderr.
    public static func start(_ arguments: [String], input: [UInt8] = [], environment: [String: String] = [:]) throws -> ChildProcess {
        precondition(!arguments.isEmpty, "a program to run")
        var stdinPipe: [Int32] = [0, 0], stdoutPipe: [Int32] = [0, 0], stderrPipe: [Int32] = [0, 0]
        // Close-on-exec at once (pipe2 is not visible to Swift here): another test's child
        // must not inherit these ends, or this one's reader would wait for that child to exit.
        for index in 0..<3 {
            let made = index == 0 ? pipe(&stdinPipe) : index == 1 ? pipe(&stdoutPipe) : pipe(&stderrPipe)
            guard made == 0 else { throw SpawnError(description: "pipe: \(String(cString: strerror(errno)))") }
        }
        for descriptor in stdinPipe + stdoutPipe + stderrPipe { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)
        let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let code = posix_spawnp(&pid, arguments[0], &actions, nil, argv, envp)
        close(stdinPipe[0])
        close(stdoutPipe[1])
        close(stderrPipe[1])
        guard code == 0 else {
            close(stdinPipe[1]); close(stdoutPipe[0]); close(stderrPipe[0])
            throw SpawnError(description: "cannot start \(arguments[0]): \(String(cString: strerror(code)))")
        }
        let writer = stdinPipe[1]
        Thread.detachNewThread {
            input.withUnsafeBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = write(writer, bytes.baseAddress! + offset, bytes.count - offset)
                    if written <= 0 { break }
                    offset += written
                }
            }
            close(writer)
        }
        return ChildProcess(pid: pid, output: Reader(stdoutPipe[0]), errors: Reader(stderrPipe[0]))
    }

    /// Runs to the end.
    @discardableResult
    public static func run(_ arguments: [String], input: [UInt8] = [], environment: [String: String] = [:]) throws -> Result {
        try start(arguments, input: input, environment: environment).wait()
    }

    /// Waits for the program to end and returns what it printed.
    public func wait() -> Result {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = status & 0x7f == 0
        return Result(status: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), stdout: output.text(), stderr: errors.text())
    }

    /// Reads a pipe to its end on a thread of its own.
    final class Reader: @unchecked Sendable {
        private var data = Data()
        private let done = DispatchSemaphore(value: 0)

        init(_ descriptor: Int32) {
            Thread.detachNewThread { [self] in
                var buffer = [UInt8](repeating: 0, count: 65_536)
                while true {
                    let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
                    if count < 0 && errno == EINTR { continue }
                    if count <= 0 { break }
                    data.append(contentsOf: buffer[0..<count])
                }
                close(descriptor)
                done.signal()
            }
        }

        func text() -> String {
            done.wait()
            done.signal()
            return String(decoding: data, as: UTF8.self)
        }
    }
}
