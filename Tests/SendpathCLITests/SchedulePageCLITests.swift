import Foundation
import Testing

/// The schedule page as people and CI see it: printed by the binary, rendered by headless
/// Chromium (`make browser-deps` installs Debian's `chromium`), served by the controller.
@Suite("schedule page in a browser")
struct SchedulePageCLITests {
    /// Headless Chromium, as root too (`--no-sandbox`), each run with a profile of its own.
    enum Chromium {
        static let path = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

        static func run(_ arguments: [String], in folder: TemporaryFolder) throws -> SendpathBinary.Result {
            let browser = try #require(path, "headless Chromium is missing: `make browser-deps` installs Debian's chromium")
            let profile = folder.path + "/chromium-\(UUID().uuidString)"
            return try Command.run(browser, ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
                                             "--user-data-dir=\(profile)"] + arguments, timeout: 90)
        }

        /// The DOM once the page has loaded.
        static func dom(of file: String, in folder: TemporaryFolder) throws -> String {
            let result = try run(["--dump-dom", "file://\(file)"], in: folder)
            #expect(result.status == 0, "chromium --dump-dom: \(result.stderr)")
            return result.stdout
        }

        /// A PNG of the page's first `width`×`height` pixels.
        static func screenshot(of file: String, to png: String, in folder: TemporaryFolder,
                               width: Int = 1400, height: Int = 1000) throws {
            let result = try run(["--screenshot=\(png)", "--window-size=\(width),\(height)", "file://\(file)"], in: folder)
            #expect(result.status == 0, "chromium --screenshot: \(result.stderr)")
            #expect(FileManager.default.fileExists(atPath: png), "no screenshot written: \(result.stderr)")
        }
    }

    /// What a PNG shows, decoded by a few lines of Python (zlib and the five PNG filters):
    /// its size, how many distinct colours, the share of pixels that are not white, and for
    /// each colour asked about how many pixels have it (within 8 per channel).
    struct Pixels: Decodable {
        var width: Int
        var height: Int
        var distinct: Int
        var nonWhite: Double
        var matches: [String: Int]

        static let decoder = #"""
        import json, struct, sys, zlib
        data = open(sys.argv[1], 'rb').read()
        assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
        pos, idat = 8, b''
        while pos < len(data):
            length, kind = struct.unpack('>I4s', data[pos:pos + 8])
            body = data[pos + 8:pos + 8 + length]
            if kind == b'IHDR':
                width, height, depth, colour = struct.unpack('>IIBB', body[:10])
                assert depth == 8 and colour in (2, 6), 'expects 8-bit RGB or RGBA'
                bpp = 3 if colour == 2 else 4
            elif kind == b'IDAT':
                idat += body
            pos += 12 + length
        raw = zlib.decompress(idat)
        stride = width * bpp
        previous = bytearray(stride)
        counts = {}
        for y in range(height):
            kind = raw[y * (stride + 1)]
            line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = previous[i]
                c = previous[i - bpp] if i >= bpp else 0
                if kind == 1: line[i] = (line[i] + a) & 255
                elif kind == 2: line[i] = (line[i] + b) & 255
                elif kind == 3: line[i] = (line[i] + (a + b) // 2) & 255
                elif kind == 4:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            for x in range(0, stride, bpp):
                pixel = bytes(line[x:x + 3])
                counts[pixel] = counts.get(pixel, 0) + 1
            previous = line
        wanted = {w: bytes.fromhex(w.lstrip('#')) for w in sys.argv[2:]}
        matches = {w: sum(n for p, n in counts.items() if all(abs(p[i] - v[i]) <= 8 for i in range(3))) for w, v in wanted.items()}
        white = counts.get(b'\xff\xff\xff', 0)
        print(json.dumps({'width': width, 'height': height, 'distinct': len(counts),
                          'nonWhite': 1 - white / (width * height), 'matches': matches}))
        """#

        static func of(_ png: String, colours: [String] = []) throws -> Pixels {
            let result = try Command.run("/usr/bin/env", ["python3", "-c", decoder, png] + colours, timeout: 120)
            #expect(result.status == 0, "PNG decoder: \(result.stderr)")
            return try JSONDecoder().decode(Pixels.self, from: Data(result.stdout.utf8))
        }
    }

    /// The colour of each status on the page (ScheduleHTML.statusColours).
    static let colours = ["pending": "#2563eb", "blocked": "#d97706", "in-progress": "#7c3aed", "migrated": "#16a34a",
                          "rolled-back": "#dc2626", "held": "#be185d", "in-sync": "#94a3b8", "failed": "#7f1d1d"]

    /// Waves and groups with their statuses, from the same command's JSON.
    static func groups(_ json: String) throws -> [(id: String, wave: String, status: String)] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let groups = try #require(object["groups"] as? [[String: Any]])
        return groups.compactMap { group in
            guard let id = group["id"] as? String, let wave = group["wave"] as? String, let status = group["status"] as? String else { return nil }
            return (id, wave, status)
        }
    }

    /// Runs `arguments` with `--output html` and `--output json` in `folder`, renders the page
    /// in Chromium, and checks the DOM and a screenshot against the JSON.
    static func checkPage(_ arguments: [String], in folder: TemporaryFolder, expectStatuses: Set<String>) throws {
        let html = try SendpathBinary.run(arguments + ["--output", "html"], directory: folder.path)
        let json = try SendpathBinary.run(arguments + ["--output", "json"], directory: folder.path)
        #expect(html.status == json.status, "html exits as json does: \(html.stderr)")
        #expect(html.stdout.hasPrefix("<!DOCTYPE html>"), "\(html.stdout.prefix(200)) \(html.stderr)")
        let groups = try groups(json.stdout)
        #expect(Set(groups.map(\.status)) == expectStatuses)
        let page = folder.path + "/schedule.html"
        try html.stdout.write(toFile: page, atomically: true, encoding: .utf8)

        let dom = try Chromium.dom(of: page, in: folder)
        #expect(dom.contains("<h1>Sendpath schedule</h1>"), "\(dom.prefix(300))")
        for wave in Set(groups.map(\.wave)) {
            #expect(dom.contains("<section class=\"wave\" id=\"wave-\(wave)\" data-wave=\"\(wave)\""), "wave \(wave) missing")
            #expect(dom.contains("<g class=\"wave-row\" data-wave=\"\(wave)\">"), "wave \(wave) missing from the calendar")
        }
        for group in groups {
            #expect(dom.contains("data-group=\"\(group.id)\" data-status=\"\(group.status)\""), "group \(group.id) (\(group.status)) missing")
        }
        // Chromium's DOM holds as many group rows as the report has groups: the page parsed whole.
        #expect(dom.components(separatedBy: "<tr class=\"group\"").count - 1 == groups.count)

        let shot = folder.path + "/schedule.png", blank = folder.path + "/blank.png", empty = folder.path + "/blank.html"
        try "<!DOCTYPE html><html><body></body></html>".write(toFile: empty, atomically: true, encoding: .utf8)
        try Chromium.screenshot(of: page, to: shot, in: folder)
        try Chromium.screenshot(of: empty, to: blank, in: folder, width: 400, height: 300)
        let statusColours = expectStatuses.compactMap { colours[$0] }
        let pixels = try Pixels.of(shot, colours: statusColours)
        let nothing = try Pixels.of(blank)
        // The decoder sees the blank page as blank, and the schedule as far from it.
        #expect(nothing.distinct <= 2 && nothing.nonWhite < 0.01, "blank render: \(nothing)")
        #expect(pixels.width == 1400 && pixels.height == 1000)
        #expect(pixels.distinct > 50, "a screenshot of \(pixels.distinct) colours")
        #expect(pixels.nonWhite > 0.03, "\(pixels.nonWhite) of the pixels are not white")
        for colour in statusColours {
            #expect((pixels.matches[colour] ?? 0) > 20, "the colour \(colour) of a status shown is not on the screenshot")
        }
    }

    @Test func dryRunPageHoldsEveryWaveAndGroupAndRendersInChromium() throws {
        let folder = try TemporaryFolder("schedule")
        defer { folder.remove() }
        // The sample fleet, planned in its first window: one wave can start, the rest wait.
        try Self.checkPage(["reconcile", "--dry-run", "--at", "2023-10-14T21:00:00Z", SendpathBinary.packageRoot + "/manifests"],
                           in: folder, expectStatuses: ["pending", "blocked"])
    }

    @Test func statusPageAfterAnApplyShowsMigratedGroups() throws {
        let folder = try TemporaryFolder("schedule-status")
        defer { folder.remove() }
        let manifests = SendpathBinary.packageRoot + "/manifests"
        let applied = try SendpathBinary.run(["reconcile", "--at", "2023-10-14T21:00:00Z", "--output", "json", manifests], directory: folder.path)
        #expect([0, 3].contains(applied.status), "\(applied.stderr)")
        try Self.checkPage(["status", "--at", "2023-10-14T23:00:00Z", manifests], in: folder, expectStatuses: ["migrated", "blocked"])
    }

    @Test func htmlWithoutDryRunIsAUsageError() throws {
        let folder = try TemporaryFolder("schedule-usage")
        defer { folder.remove() }
        let result = try SendpathBinary.run(["reconcile", "--output", "html", SendpathBinary.packageRoot + "/manifests"], directory: folder.path)
        #expect(result.status == 64)
        #expect(result.stderr.contains("--output html goes with --dry-run"))
        #expect(result.stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/.sendpath"), "a refused command changed nothing")
    }

    @Test func controllerServesTheLivePageAtTheRoot() throws {
        let folder = try TemporaryFolder("schedule-controller")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 2, window: GeneratedFleet.liveWindow())
        let controller = try ControllerCLITests.Controller(folder: folder, arguments: ["--interval", "1h"])
        defer { _ = controller.terminate() }
        // Once the first reconcile has migrated both groups, the page shows them so. (The
        // status chips carry data-status="migrated" from the first page on, with a count of 0:
        // wait for the groups' own rows.)
        let migrated = ["pfx-0", "pfx-1"].map { "data-group=\"\($0)\" data-status=\"migrated\"" }
        let page = try #require(controller.wait(for: "/") { page in migrated.allSatisfy { page.contains($0) } },
                                "both groups migrated on the page within a minute")
        #expect(page.contains("<meta http-equiv=\"refresh\" content=\"10\">"))
        #expect(page.contains("data-wave=\"wave-a\""))
        let answer = try #require(controller.get("/"))
        #expect(answer.type == "text/html; charset=utf-8")
        #expect(controller.terminate() == 0)
    }
}
