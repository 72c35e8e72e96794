import Foundation
import Testing

/// `notify --smtp/--webhook` through a real SMTP server (aiosmtpd) and an HTTPS receiver on
/// loopback: one notice per tenant, nothing sent twice, a superseding notice after a change,
/// and nothing at all while a tenant has no contacts.
@Suite("sendpath notify delivers")
struct NotifyDeliveryCLITests {
    static func tenants(webhook: String?) -> String {
        (0..<2).map { index in
            """
            ---
            apiVersion: sendpath/v1
            kind: Tenant
            metadata: {name: tenant-\(index)}
            spec:
              contacts: [ops@tenant-\(index).example, oncall@tenant-\(index).example]
              timeZone: \(index == 0 ? "Europe/Paris" : "America/New_York")
            \(webhook.map { "  webhook: \($0)/t\(index)" } ?? "")

            """
        }.joined()
    }

    @Test(.timeLimit(.minutes(3)))
    func everyTenantGetsOneEmailAndWebhookAndARerunSendsNothing() throws {
        let folder = try TemporaryFolder("notify-deliver")
        defer { folder.remove() }
        let sinks = try NoticeSinks(folder: folder, https: true)
        defer { sinks.stop() }
        let window = NotifyCLITests.window(startingIn: 40)
        try GeneratedFleet.write(into: folder, groups: 2, window: window, withNotice: false)
        let environment = ["SENDPATH_WEBHOOK_CA_FILE": sinks.certificate!]

        // No Tenant documents: nothing is sent, exit 65 naming the tenants.
        let refused = try SendpathBinary.run(["notify", "--wave", "wave-a", "--smtp", sinks.smtpURL], directory: folder.path)
        #expect(refused.status == 65, "\(refused.stderr)")
        #expect(refused.stderr.contains("without a Tenant document (contacts): tenant-0, tenant-1"), "\(refused.stderr)")
        #expect(sinks.records("smtp.jsonl").isEmpty)
        let notRecorded = try SendpathBinary.run(["reconcile", "--dry-run", "--at", window.start, "--output", "json"], directory: folder.path)
        #expect(try #require(try notRecorded.json()["instances"] as? [[String: Any]]).allSatisfy { $0["reasonCode"] as? String == "notice-missing" })

        try folder.write("manifests/tenants.yaml", Self.tenants(webhook: "https://127.0.0.1:\(sinks.httpsPort)/hooks"))
        let sent = try SendpathBinary.run(["notify", "--wave", "wave-a", "--smtp", sinks.smtpURL, "--webhook", "--output", "json"],
                                          directory: folder.path, environment: environment)
        #expect(sent.status == 0, "\(sent.stderr)")
        let report = try sent.json()
        let deliveries = try #require(report["deliveries"] as? [[String: Any]])
        #expect(deliveries.map { $0["state"] as? String } == ["delivered", "delivered", "delivered", "delivered"])
        #expect((report["notice"] as? [String: Any])?["recorded"] as? Bool == true)

        // The SMTP server got one message per tenant, to its contacts, multipart, with a Message-ID.
        let mails = sinks.records("smtp.jsonl")
        #expect(mails.count == 2)
        #expect(mails.map { $0["rcpt_tos"] as? [String] } == [["ops@tenant-0.example", "oncall@tenant-0.example"],
                                                                 ["ops@tenant-1.example", "oncall@tenant-1.example"]])
        let first = try #require(mails.first?["data"] as? String)
        #expect(first.contains("Content-Type: multipart/alternative"))
        #expect(first.contains("Window (Europe/Paris):"))
        #expect(first.contains("The date cannot be moved."))
        let messageID = try #require(first.split(whereSeparator: \.isNewline).first { $0.hasPrefix("Message-ID: ") })
        #expect(messageID.contains(".tenant-0@sendpath.example>"))
        let hooks = sinks.records("webhook.jsonl")
        #expect(hooks.map { $0["path"] as? String } == ["/hooks/t0", "/hooks/t1"])
        let body = try #require(try JSONSerialization.jsonObject(with: Data(((hooks.first?["body"] as? String) ?? "").utf8)) as? [String: Any])
        #expect(body["tenant"] as? String == "tenant-0")
        #expect(body["instances"] as? [String] == ["inst-0-0", "inst-0-1"])

        // Again: nothing is sent twice.
        let again = try SendpathBinary.run(["notify", "--wave", "wave-a", "--smtp", sinks.smtpURL, "--webhook"],
                                           directory: folder.path, environment: environment)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("Already delivered email notice to tenant tenant-0"), "\(again.stdout)")
        #expect(sinks.records("smtp.jsonl").count == 2)
        #expect(sinks.records("webhook.jsonl").count == 2)

        // The wave may start in its window: the notice counts from the deliveries.
        let ready = try SendpathBinary.run(["reconcile", "--dry-run", "--at", window.start, "--output", "json"], directory: folder.path)
        #expect((try ready.json()["summary"] as? [String: Int]) == ["pending": 4], "\(ready.stdout)")

        // A later window: a superseding notice to every tenant, naming the one it replaces.
        let later = NotifyCLITests.window(startingIn: 50)
        try GeneratedFleet.write(into: folder, groups: 2, window: later, withNotice: false)
        let superseding = try SendpathBinary.run(["notify", "--wave", "wave-a", "--smtp", sinks.smtpURL], directory: folder.path)
        #expect(superseding.status == 0, "\(superseding.stderr)")
        let all = sinks.records("smtp.jsonl")
        #expect(all.count == 4)
        let replacing = try #require(all.last?["data"] as? String)
        #expect(replacing.contains("Subject: Updated: "))
        #expect(replacing.contains("Supersedes: <wave-a."))
        #expect(superseding.stdout.contains("superseding <wave-a."), "\(superseding.stdout)")
    }

    @Test(.timeLimit(.minutes(2)))
    func credentialsAreNeverSentWithoutTLSAndNothingIsRecordedThen() throws {
        let folder = try TemporaryFolder("notify-auth")
        defer { folder.remove() }
        let sinks = try NoticeSinks(folder: folder)
        defer { sinks.stop() }
        try GeneratedFleet.write(into: folder, groups: 1, window: NotifyCLITests.window(startingIn: 40), withNotice: false)
        try folder.write("manifests/tenants.yaml", Self.tenants(webhook: nil))
        // aiosmtpd here offers no STARTTLS: with a password, libcurl must refuse to go on in clear.
        let secret = "s3cret-\(UUID().uuidString)"
        let refused = try SendpathBinary.run(["notify", "--wave", "wave-a", "--smtp", sinks.smtpURL], directory: folder.path,
                                             environment: ["SENDPATH_SMTP_USER": "notices", "SENDPATH_SMTP_PASSWORD": secret])
        #expect(refused.status == 1, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stdout.contains("FAILED email notice to tenant tenant-0"), "\(refused.stdout)")
        #expect(!(refused.stdout + refused.stderr).contains(secret))
        #expect(sinks.records("smtp.jsonl").isEmpty)
        // Nothing was delivered, so no notice is in force: the wave waits for one.
        #expect(refused.stdout.contains("Notice for wave wave-a not in force yet"))
        // One of the pair alone is a usage error.
        let half = try SendpathBinary.run(["notify", "--wave", "wave-a", "--smtp", sinks.smtpURL], directory: folder.path,
                                          environment: ["SENDPATH_SMTP_USER": "notices"])
        #expect(half.status == 64, "\(half.stderr)")
        // A user or password in the URL is refused before anything happens.
        let inURL = try SendpathBinary.run(["notify", "--wave", "wave-a", "--smtp", "smtp://u:p@127.0.0.1:\(sinks.smtpPort)"], directory: folder.path)
        #expect(inURL.status == 64)
        #expect(!inURL.stderr.contains("u:p@"))
    }

    @Test func sendmailGetsTheWholeMessageOnStdin() throws {
        let folder = try TemporaryFolder("notify-sendmail")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 2, window: NotifyCLITests.window(startingIn: 40), withNotice: false)
        try folder.write("manifests/tenants.yaml", Self.tenants(webhook: nil))
        // A stand-in for /usr/sbin/sendmail: records its arguments and the message.
        try folder.write("fake-sendmail", "#!/bin/sh\nn=$(ls \"$0.d\" 2>/dev/null | grep -c eml)\nmkdir -p \"$0.d\"\necho \"$@\" > \"$0.d/$n.args\"\ncat > \"$0.d/$n.eml\"\n")
        chmod(folder.path + "/fake-sendmail", 0o755)
        let sent = try SendpathBinary.run(["notify", "--wave", "wave-a", "--sendmail"], directory: folder.path,
                                          environment: ["SENDPATH_SENDMAIL": folder.path + "/fake-sendmail"])
        #expect(sent.status == 0, "\(sent.stderr)")
        let args = try String(contentsOfFile: folder.path + "/fake-sendmail.d/0.args", encoding: .utf8)
        #expect(args.hasPrefix("-t -i -f migration-notices@sendpath.example"))
        let message = try String(contentsOfFile: folder.path + "/fake-sendmail.d/1.eml", encoding: .utf8)
        #expect(message.contains("To: ops@tenant-1.example, oncall@tenant-1.example\n"))
        #expect(message.contains("Window (America/New_York):"))
        #expect(!message.contains("\r\n"), "LF line ends for sendmail")
        let again = try SendpathBinary.run(["notify", "--wave", "wave-a", "--sendmail"], directory: folder.path,
                                           environment: ["SENDPATH_SENDMAIL": folder.path + "/fake-sendmail"])
        #expect(again.status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path + "/fake-sendmail.d").count == 4, "nothing sent twice")
    }
}
