import Foundation

/// `sendpath simulator serve` run by a test on a free loopback port, with a bearer token.
final class SimulatorServer: @unchecked Sendable {
    static let token = "test-token-\(UUID().uuidString)"

    let process = Process()
    let folder: TemporaryFolder
    let logFile: String
    private(set) var port: Int = 0

    /// Starts the server on `port` (0: a free one) and waits until it listens.
    convenience init(folder: TemporaryFolder, fleet: String = "served-fleet.db", port: Int = 0, latency: String = "0s", faults: String? = nil) throws {
        var arguments = ["simulator", "serve", "--fleet", fleet, "--seed", "manifests", "--latency", latency,
                         "--listen", "127.0.0.1:\(port)"]
        if let faults { arguments += ["--faults", faults] }
        try self.init(folder: folder, arguments: arguments)
    }

    /// Starts any `sendpath ... serve` command (its first stdout line names the address) and
    /// waits until it listens: `provider serve` too.
    init(folder: TemporaryFolder, arguments: [String]) throws {
        self.folder = folder
        logFile = folder.path + "/serve-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        process.executableURL = URL(fileURLWithPath: SendpathBinary.path)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: folder.path)
        var environment = ProcessInfo.processInfo.environment
        environment["SENDPATH_PROVIDER_TOKEN"] = Self.token
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle(forWritingAtPath: logFile)
        try process.run()
        // The first line on stdout names the address.
        var line = Data()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let byte = out.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let value = text.split(separator: ":").last.flatMap({ Int($0) }) else {
            stop()
            throw ServerError(message: "\(arguments.prefix(2).joined(separator: " ")) did not start: '\(text)' \(log)")
        }
        self.port = value
    }

    var url: String { "http://127.0.0.1:\(port)" }
    var environment: [String: String] { ["SENDPATH_PROVIDER_TOKEN": Self.token] }
    var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    func kill() {
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    struct ServerError: Error { var message: String }
}

/// Where a test's reconciler gets its provider from.
enum ProviderKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case embedded
    case http
    var description: String { rawValue }
}
