import Foundation

/// Tests/SendpathCLITests/Support/notice_sinks.py run by a test: aiosmtpd on a free loopback
/// port and, with a certificate, an HTTPS webhook receiver; what they receive is read back from
/// JSON-lines files.
final class NoticeSinks: @unchecked Sendable {
    let process = Process()
    let folder: TemporaryFolder
    let input = Pipe()
    private(set) var smtpPort = 0
    private(set) var httpsPort = 0
    /// The self-signed certificate the webhook serves (a CA file for sendpath), when asked for.
    private(set) var certificate: String?

    init(folder: TemporaryFolder, https: Bool = false) throws {
        self.folder = folder
        var arguments = [SendpathBinary.packageRoot + "/Tests/SendpathCLITests/Support/notice_sinks.py", folder.path]
        if https {
            let cert = folder.path + "/hook-cert.pem", key = folder.path + "/hook-key.pem"
            let made = try Command.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                                                           "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
            guard made.status == 0 else { throw SinkError(message: "openssl: \(made.stderr)") }
            certificate = cert
            arguments += [cert, key]
        }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = arguments
        process.standardInput = input
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        // The first stdout line, once both listen: "smtp PORT https PORT".
        var line = Data()
        while true {
            let byte = out.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        let words = String(decoding: line, as: UTF8.self).split(separator: " ")
        guard words.count == 4, let smtp = Int(words[1]), let hook = Int(words[3]) else {
            stop()
            throw SinkError(message: "notice_sinks.py did not start (is python3-aiosmtpd installed? make lab-deps): '\(String(decoding: line, as: UTF8.self))'")
        }
        smtpPort = smtp
        httpsPort = hook
    }

    var smtpURL: String { "smtp://127.0.0.1:\(smtpPort)" }
    var webhookURL: String { "https://127.0.0.1:\(httpsPort)/hooks/notices" }

    /// The JSON lines of `smtp.jsonl` or `webhook.jsonl` so far.
    func records(_ name: String) -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: folder.path + "/" + name, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// Closes its stdin (it stops on end of input) and waits; SIGKILL after 10 s. Not SIGTERM:
    /// a child spawned from a thread that blocks SIGTERM inherits the mask and ignores it.
    func stop() {
        guard process.isRunning else { return }
        try? input.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    struct SinkError: Error { var message: String }
}
