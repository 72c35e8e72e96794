import SendpathCore
import Foundation

/// One queued message as `postqueue -j` lists it.
struct PostfixQueueEntry: Sendable, Hashable, Decodable {
    var queueName: String
    var queueID: String
    var arrivalTime: Int64
    var sender: String
    var recipients: [String]
    /// Deferred with no reason given for any recipient: put back by a queue manager that could
    /// not go on (a `postfix reload` under it), not by a failed delivery.
    var deferredWithoutReason: Bool

    enum CodingKeys: String, CodingKey {
        case queueName = "queue_name", queueID = "queue_id", arrivalTime = "arrival_time", sender, recipients
    }

    struct Recipient: Decodable {
        var address: String
        var delayReason: String?

        enum CodingKeys: String, CodingKey { case address, delayReason = "delay_reason" }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        queueName = try container.decode(String.self, forKey: .queueName)
        queueID = try container.decode(String.self, forKey: .queueID)
        arrivalTime = try container.decode(Int64.self, forKey: .arrivalTime)
        sender = try container.decodeIfPresent(String.self, forKey: .sender) ?? ""
        let listed = try container.decodeIfPresent([Recipient].self, forKey: .recipients) ?? []
        recipients = listed.map(\.address)
        deferredWithoutReason = queueName == "deferred" && listed.allSatisfy { ($0.delayReason ?? "").isEmpty }
    }

    /// Not yet taken up by this MTA's queue manager: in `maildrop` or `incoming`, or deferred
    /// without a reason (released from hold, or put back by a queue manager that could not go
    /// on). A message in `active` is being delivered; one deferred with a reason waits on the
    /// remote.
    var awaitsQueueManager: Bool {
        queueName == "maildrop" || queueName == "incoming" || deferredWithoutReason
    }
}

/// A queued message's envelope sender and Message-ID.
struct MessageEnvelope: Sendable, Hashable {
    var sender: String
    var messageID: String?
}

/// What an MTA is told to do: send, hold everything, or pass new mail on to the MTA of the
/// instance's active site. Sendpath owns two settings of the MTAs it manages for this:
/// `header_checks` (`static:HOLD` holds every new message) and `default_transport`.
enum MTARole: Sendable, Hashable {
    case sending
    case frozen
    case forwarding(to: PostfixBGPConfiguration.HostPort)

    var settings: [String: String] {
        switch self {
        case .sending: ["header_checks": "", "default_transport": "smtp"]
        case .frozen: ["header_checks": "static:HOLD", "default_transport": "smtp"]
        case .forwarding(let next): ["header_checks": "", "default_transport": "smtp:[\(next.host)]:\(next.port)"]
        }
    }
}

/// A Postfix instance, addressed by its configuration directory, driven through `postfix -c`,
/// `postconf -c`, `postqueue -c`, `postsuper -c`, `postcat -c` and `sendmail -C`.
struct PostfixMTA: Sendable {
    let directory: String
    let tools: ToolRunner

    /// The file that holds the build the instance runs at this site (one line).
    var buildFile: String { directory + "/sendpath-build" }

    // MARK: - Observing

    /// The values of main.cf parameters (`postconf -c DIR -h NAME...`, one line each).
    func settings(_ names: [String]) async throws(ProviderError) -> [String: String] {
        let lines = try await tools.run("postconf", ["-c", directory, "-h"] + names).text
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var result: [String: String] = [:]
        for (index, name) in names.enumerated() { result[name] = index < lines.count ? lines[index].trimmingCharacters(in: .whitespaces) : "" }
        return result
    }

    /// Whether the MTA's master process runs.
    func isRunning() async throws(ProviderError) -> Bool {
        try await tools.output("postfix", ["-c", directory, "status"]).status == 0
    }

    /// The role its settings say it has.
    func role() async throws(ProviderError) -> MTARole {
        let values = try await settings(["header_checks", "default_transport"])
        if values["header_checks"] == "static:HOLD" { return .frozen }
        let transport = values["default_transport"] ?? "smtp"
        if transport.hasPrefix("smtp:["), let close = transport.firstIndex(of: "]"),
           let next = PostfixBGPConfiguration.HostPort(String(transport[transport.index(transport.startIndex, offsetBy: 6)..<close])
                                                      + transport[transport.index(after: close)...]) {
            return .forwarding(to: next)
        }
        return .sending
    }

    /// The addresses it sends from: `smtp_bind_address` and `smtp_bind_address6`.
    func sendingIPs() async throws(ProviderError) -> [IPAddress] {
        let values = try await settings(["smtp_bind_address", "smtp_bind_address6"])
        return ["smtp_bind_address", "smtp_bind_address6"].compactMap { values[$0] }.filter { !$0.isEmpty }
            .compactMap { IPAddress($0) }
    }

    /// The build it runs: the first line of `sendpath-build` in its configuration directory.
    func build() throws(ProviderError) -> String {
        guard let data = FileManager.default.contents(atPath: buildFile) else {
            throw ProviderError(.rejected, "cannot read the build file \(buildFile) of the MTA at \(directory)")
        }
        return String(decoding: data.prefix(4096), as: UTF8.self).split(separator: "\n").first.map(String.init)?
            .trimmingCharacters(in: .whitespaces) ?? ""
    }

    /// Its queue (every queue: maildrop, incoming, active, deferred, hold).
    func queue() async throws(ProviderError) -> [PostfixQueueEntry] {
        let output = try await tools.run("postqueue", ["-c", directory, "-j"])
        var entries: [PostfixQueueEntry] = []
        let decoder = JSONDecoder()
        for line in output.stdout.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            do {
                entries.append(try decoder.decode(PostfixQueueEntry.self, from: Data(line)))
            } catch {
                throw ProviderError(.transient, "postqueue -c \(directory) -j printed a line that is not a queue entry")
            }
        }
        return entries
    }

    /// What `postcat -e -h` says of queued messages, read in one call per 200 ids: each one's
    /// exact envelope sender and its Message-ID. Messages gone meanwhile are absent.
    func envelopes(_ queueIDs: [String]) async throws(ProviderError) -> [String: MessageEnvelope] {
        var result: [String: MessageEnvelope] = [:]
        var start = 0
        while start < queueIDs.count {
            let chunk = Array(queueIDs[start..<min(start + 200, queueIDs.count)])
            start += chunk.count
            // postcat exits non-zero when some id is gone; what it printed for the others holds.
            let output = try await tools.output("postcat", ["-c", directory, "-e", "-h", "-q"] + chunk)
            result.merge(Self.envelopes(inPostcat: output.text)) { first, _ in first }
        }
        return result
    }

    /// Splits `postcat -e -h` output at its `*** ENVELOPE RECORDS QUEUE/ID ***` markers (a
    /// header line cannot look like one: a field name has no spaces).
    static func envelopes(inPostcat text: String) -> [String: MessageEnvelope] {
        var result: [String: MessageEnvelope] = [:]
        var queueID: String?, sender: String?, headers = "", inHeaders = false
        func finish() {
            if let queueID, let sender { result[queueID] = MessageEnvelope(sender: sender, messageID: messageID(inHeaders: headers)) }
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("*** ENVELOPE RECORDS "), line.hasSuffix(" ***") {
                finish()
                let path = line.dropFirst("*** ENVELOPE RECORDS ".count).dropLast(" ***".count)
                queueID = path.split(separator: "/").last.map(String.init)
                sender = nil
                headers = ""
                inHeaders = false
            } else if line.hasPrefix("*** MESSAGE CONTENTS ") {
                inHeaders = true
            } else if line.hasPrefix("*** HEADER EXTRACTED ") || line.hasPrefix("*** MESSAGE FILE END ") {
                inHeaders = false
            } else if inHeaders {
                headers += line + "\n"
            } else if sender == nil, line.hasPrefix("sender:") {
                sender = String(line.dropFirst("sender:".count)).trimmingCharacters(in: .whitespaces)
            }
        }
        finish()
        return result
    }

    /// The Message-ID header of a header block (folded lines joined).
    static func messageID(inHeaders text: String) -> String? {
        var current = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.first == " " || line.first == "\t" {
                current += " " + line.trimmingCharacters(in: .whitespaces)
                continue
            }
            if let id = headerValue(current, name: "message-id") { return id }
            current = String(line)
            if line.isEmpty { break }
        }
        return headerValue(current, name: "message-id")
    }

    private static func headerValue(_ line: String, name: String) -> String? {
        guard let colon = line.firstIndex(of: ":"), line[..<colon].lowercased() == name else { return nil }
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        return value.isEmpty ? nil : value
    }

    /// A queued message's headers and body exactly as queued (`postcat -bh`), or nil when it is gone.
    func content(_ queueID: String) async throws(ProviderError) -> [UInt8]? {
        let output = try await tools.output("postcat", ["-c", directory, "-bh", "-q", queueID])
        return output.status == 0 ? output.stdout : nil
    }

    /// Where it accepts mail over SMTP: the first `inet` smtpd service of master.cf.
    func submitAddress() async throws(ProviderError) -> PostfixBGPConfiguration.HostPort {
        let services = try await tools.run("postconf", ["-c", directory, "-M"]).text
        for line in services.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 8, fields[1] == "inet", fields[7] == "smtpd" else { continue }
            let name = String(fields[0])
            if let address = PostfixBGPConfiguration.HostPort(name) { return address }
            let port = name == "smtp" ? 25 : Int(name) ?? 25
            let interfaces = try await settings(["inet_interfaces"])["inet_interfaces"] ?? ""
            let host = interfaces.split(whereSeparator: { $0 == "," || $0 == " " }).first.map(String.init)
            return PostfixBGPConfiguration.HostPort("\(host == nil || host == "all" || host == "loopback-only" ? "127.0.0.1" : host!):\(port)")!
        }
        throw ProviderError(.rejected, "the MTA at \(directory) has no inet smtpd service in master.cf: nothing can pass mail to it")
    }

    // MARK: - Changing

    /// Gives the MTA `role`: edits main.cf (only what differs) and reloads it.
    func assume(_ role: MTARole) async throws(ProviderError) {
        let wanted = role.settings
        let current = try await settings(Array(wanted.keys).sorted())
        let changes = wanted.filter { current[$0.key] != $0.value }.sorted { $0.key < $1.key }
        guard !changes.isEmpty else { return }
        try await tools.run("postconf", ["-c", directory, "-e"] + changes.map { "\($0.key)=\($0.value)" })
        // Every Postfix program waits until main.cf is two seconds old before reading it (so as
        // never to read a file mid-edit); postconf -e has replaced it whole, so it can be read now.
        backdateMainCF()
        try await tools.run("postfix", ["-c", directory, "reload"])
    }

    private func backdateMainCF() {
        let path = directory + "/main.cf"
        let moment = Date().addingTimeInterval(-5)
        try? FileManager.default.setAttributes([.modificationDate: moment], ofItemAtPath: path)
    }

    /// Puts every queued message on hold (`postsuper -h ALL`).
    func holdAll() async throws(ProviderError) {
        try await tools.run("postsuper", ["-c", directory, "-h", "ALL"])
    }

    /// Releases every held message and asks for delivery now, then asks again until every
    /// released message was taken up by the queue manager (being delivered, delivered, or
    /// deferred by the remote with a reason), for at most `patience`. A `postfix reload` just before (the role change that unfreezes) can
    /// swallow the first request: the queue manager that gets it exits for the reload with the
    /// messages put back as deferred, and the next one starts only at its 300 s wakeup. This
    /// happens often (the flush comes milliseconds after the reload), so the next request goes
    /// out after 500 ms; asking again costs one `postqueue -f`.
    func releaseAll(patience: Duration) async throws(ProviderError) {
        try await tools.run("postsuper", ["-c", directory, "-H", "ALL"])
        let deadline = ContinuousClock.now + patience
        while true {
            try await tools.run("postqueue", ["-c", directory, "-f"])
            let retry = min(deadline, ContinuousClock.now + .milliseconds(500))
            repeat {
                do { try await Task.sleep(for: .milliseconds(50)) } catch { throw ProviderError(.transient, "cancelled while releasing \(directory)") }
                if try await !queue().contains(where: \.awaitsQueueManager) { return }
            } while ContinuousClock.now < retry
            // Released all the same: Postfix delivers the rest at its next queue run.
            if ContinuousClock.now >= deadline { return }
        }
    }

    /// Deletes held messages in one call (`postsuper -d - hold`, ids on stdin); ids already
    /// gone are no error.
    func deleteHeld(_ queueIDs: [String]) async throws(ProviderError) {
        guard !queueIDs.isEmpty else { return }
        try await tools.run("postsuper", ["-c", directory, "-d", "-", "hold"], input: Array(queueIDs.map { $0 + "\n" }.joined().utf8))
    }

    /// Queues a message with its envelope (`sendmail -C DIR -f SENDER -i -- RCPT...`).
    func submit(_ content: [UInt8], sender: String, recipients: [String]) async throws(ProviderError) {
        try await tools.run("sendmail", ["-C", directory, "-f", sender, "-i", "--"] + recipients, input: content)
    }

    /// Whether some file of the hold queue is locked by a delivery agent: a message that was
    /// being delivered when it was held is delivered all the same (and then has no recipient
    /// left), so a freeze is complete only once no held file is locked (`/proc/locks`).
    func holdQueueIsLocked() async throws(ProviderError) -> Bool {
        let queueDirectory = try await settings(["queue_directory"])["queue_directory"] ?? ""
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: queueDirectory + "/hold"), !names.isEmpty,
              let locks = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return false }
        var lockedInodes = Set<UInt64>()
        for line in locks.split(separator: "\n") {
            // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (or "1: -> FLOCK ..." for a waiter)
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            let device = fields.count > 5 && fields[1] == "->" ? fields.dropFirst(6).first : fields.dropFirst(5).first
            if let device, let inode = device.split(separator: ":").last.flatMap({ UInt64($0) }) { lockedInodes.insert(inode) }
        }
        guard !lockedInodes.isEmpty else { return false }
        for name in names {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: queueDirectory + "/hold/" + name),
                  let inode = (attributes[.systemFileNumber] as? NSNumber)?.uint64Value else { continue }
            if lockedInodes.contains(inode) { return true }
        }
        return false
    }
}
