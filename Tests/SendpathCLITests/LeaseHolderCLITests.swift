import Foundation
import Testing

/// A lease is broken early only when its holder is known to be dead: same host, same PID
/// namespace and boot, and no such process. A holder of another PID namespace on a host of the
/// same name (pods with host networking) may be alive with a pid that is free here.
@Suite("Lease holders across PID namespaces")
struct LeaseHolderCLITests {
    /// This process's PID namespace and boot, as `sendpath` names them in holder ids.
    static var pidSpace: String {
        let namespace = ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid")) ?? "").filter(\.isNumber)
        let boot = ((try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? "").prefix(8)
        return "ns\(namespace)-\(boot)"
    }

    /// Puts a live-looking `reconciler` lease of a holder with pid 999999 into the state file.
    static func plantLease(in folder: TemporaryFolder, holderID: String) throws {
        let host = ProcessInfo.processInfo.hostName
        let script = """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            db.execute("UPDATE fencing SET last_token = max(last_token, 1000) WHERE id = 1")
            db.execute("DELETE FROM lease WHERE scope = 'reconciler'")
            db.execute("INSERT INTO lease (scope, holder_id, holder_host, holder_pid, holder_command, token, acquired_at, expires_at) "
                       "VALUES ('reconciler', ?, ?, 999999, 'sendpath reconcile', 1000, 0, 7000000000000000000)", (sys.argv[2], sys.argv[3]))
            db.commit()
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script, folder.path + "/.sendpath/state.db", holderID, host]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "could not plant the lease")
    }

    @Test func aHolderOfAnotherPIDNamespaceIsNotTakenForDead() throws {
        let folder = try TemporaryFolder("pidns")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 1)
        let first = try SendpathBinary.run(["reconcile", "--at", GeneratedFleet.inWindow], directory: folder.path)
        try #require(first.status == 0, "\(first.stderr)")
        let host = ProcessInfo.processInfo.hostName
        // Same host name, another PID namespace: pid 999999 may well be alive there.
        try Self.plantLease(in: folder, holderID: "\(host)/999999/abcd1234/ns1-deadbeef")
        let locked = try SendpathBinary.run(["reconcile", "--at", GeneratedFleet.inWindow], directory: folder.path)
        #expect(locked.status == 75, "\(locked.stderr)")
        #expect(locked.stderr.contains("pid 999999"))
        // Same host, namespace and boot, and no process 999999: dead, its lease is broken.
        try Self.plantLease(in: folder, holderID: "\(host)/999999/abcd1234/\(Self.pidSpace)")
        let broken = try SendpathBinary.run(["reconcile", "--at", GeneratedFleet.inWindow], directory: folder.path)
        #expect(broken.status == 0, "\(broken.stderr)")
    }
}
