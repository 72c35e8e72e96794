public import SendpathCore
import Foundation
import Synchronization

/// What loading a set of manifest paths produced.
public struct ManifestLoadResult: Sendable {
    /// The files read, in the order their documents were taken.
    public var files: [String]
    public var documents: ManifestSet
    public var diagnostics: [Diagnostic]
    /// The validated fleet, when there is no error.
    public var fleet: Fleet?
}

/// Reads manifest files and folders (recursively, sorted, `.yaml` and `.yml`), decodes
/// every document straight from libyaml's events and validates the whole set.
///
/// Files are decoded concurrently; results are merged in sorted file order, so output
/// does not depend on scheduling. Hidden files and folders (`.git`) are skipped. Discovery
/// never leaves the roots given (``ManifestDiscovery``): links out of a root are refused
/// unread, loops are reported, and the walk is bounded.
public struct ManifestLoader: Sendable {
    public var limits: YAMLLimits
    /// Files larger than this are refused unread, with a diagnostic.
    public var maxFileSize: Int
    /// How many folders deep a walk goes below a root (`walk-limit` beyond).
    public var maxDepth: Int
    /// How many files and folders a walk looks at in all (`walk-limit` beyond).
    public var maxEntries: Int

    public static let defaultMaxFileSize = 16 << 20
    /// The largest `maxFileSize` accepted: 1 GiB.
    public static let largestMaxFileSize = 1 << 30
    public static let defaultMaxDepth = 64
    public static let defaultMaxEntries = 100_000

    public init(limits: YAMLLimits = YAMLLimits(), maxFileSize: Int = ManifestLoader.defaultMaxFileSize,
                maxDepth: Int = ManifestLoader.defaultMaxDepth, maxEntries: Int = ManifestLoader.defaultMaxEntries) {
        self.limits = limits
        self.maxFileSize = maxFileSize
        self.maxDepth = maxDepth
        self.maxEntries = maxEntries
    }

    /// Loads and validates; `fleet` is set only when there is no error.
    ///
    /// The rules across documents run even when some documents had errors of their own: on
    /// the documents that decoded, without blaming what the others may declare (see
    /// ``UnreadableDocuments``), so one run reports every problem it can.
    /// Decodes and validates one file's bytes held in memory, named `file` in diagnostics, as
    /// ``load(paths:)`` does for a file on disk (the fuzzer's entry point; no file is read).
    public func load(bytes: [UInt8], file: String) -> ManifestLoadResult {
        guard bytes.count <= maxFileSize else {
            let diagnostic = Diagnostic(.fileTooLarge, at: SourceLocation(file: file, line: 1, column: 1),
                                        "file is \(Self.megabytes(bytes.count)), more than the \(Self.megabytes(maxFileSize)) limit for one manifest file")
            return ManifestLoadResult(files: [file], documents: ManifestSet(), diagnostics: [diagnostic], fleet: nil)
        }
        let decoded = Self.decodeBytes(bytes, path: file, limits: limits)
        let validation = FleetValidator.validate(decoded.documents)
        var diagnostics = decoded.diagnostics + validation.diagnostics
        diagnostics = diagnostics.sortedByLocation()
        return ManifestLoadResult(files: [file], documents: ManifestSet(), diagnostics: diagnostics,
                                  fleet: decoded.diagnostics.hasErrors ? nil : validation.fleet)
    }

    public func load(paths: [String]) -> ManifestLoadResult {
        var result = decode(paths: paths)
        let decodedCleanly = !result.diagnostics.hasErrors
        let validation = FleetValidator.validate(result.documents)
        result.documents = ManifestSet()  // the fleet holds them now
        result.diagnostics += validation.diagnostics
        result.fleet = decodedCleanly ? validation.fleet : nil
        if let fleet = result.fleet, fleet.instances.isEmpty {
            let place = result.files.first ?? paths.first ?? "."
            result.diagnostics.append(Diagnostic(.noInstances, at: SourceLocation(file: place, line: 1, column: 1),
                                                 "the manifests declare no instance: there is nothing to migrate",
                                                 hint: "check the paths given; Instance documents are what sendpath moves",
                                                 severity: .warning))
        }
        result.diagnostics = result.diagnostics.sortedByLocation()
        return result
    }

    /// Reads and decodes every file, without the rules across documents.
    public func decode(paths: [String]) -> ManifestLoadResult {
        var discovery = ManifestDiscovery(maxDepth: maxDepth, maxEntries: maxEntries)
        discovery.discover(paths)
        var diagnostics = discovery.diagnostics
        let files = discovery.files
        let results = FileResults(count: files.count)
        let limits = self.limits
        let maxFileSize = self.maxFileSize
        DispatchQueue.concurrentPerform(iterations: files.count) { index in
            results.store(Self.decodeFile(files[index], limits: limits, maxFileSize: maxFileSize), at: index)
        }
        var (documents, fileDiagnostics) = results.merged()
        diagnostics += fileDiagnostics
        // A refused path may declare anything: no rule across documents blames its absence.
        if discovery.refusedAny { documents.unreadable.someKindUnknown = true }
        return ManifestLoadResult(files: files.map(\.display), documents: documents, diagnostics: diagnostics, fleet: nil)
    }

    /// One slot per file, filled from the decoding threads, and merged in file order as soon
    /// as every file before it is in: the merging happens on the decoding threads, beside the
    /// decoding of later files, not after all of them. An `NSLock` (a pthread mutex, which
    /// ThreadSanitizer understands; the standard library's `Mutex` on Linux is not annotated
    /// for it and reads as a race under `make check`).
    final class FileResults: @unchecked Sendable {
        private let lock = NSLock()
        private var slots: [FileResult?]
        private var next = 0
        private var documents = ManifestSet()
        private var diagnostics: [Diagnostic] = []

        init(count: Int) { slots = Array(repeating: nil, count: count) }

        func store(_ result: FileResult, at index: Int) {
            lock.withLock {
                slots[index] = result
                while next < slots.count, let ready = slots[next] {
                    slots[next] = nil
                    documents.append(contentsOf: ready.documents)
                    diagnostics += ready.diagnostics
                    next += 1
                }
            }
        }

        /// Every file's documents and diagnostics, in file order, once all are stored.
        func merged() -> (ManifestSet, [Diagnostic]) {
            lock.withLock {
                precondition(next == slots.count, "a file's result is missing")
                defer { documents = ManifestSet(); diagnostics = [] }
                return (documents, diagnostics)
            }
        }
    }

    struct FileResult: Sendable {
        var documents: ManifestSet
        var diagnostics: [Diagnostic]
    }

    /// A file that could not be read: it may declare anything.
    static func unreadableFile(_ diagnostic: Diagnostic) -> FileResult {
        var documents = ManifestSet()
        documents.unreadable.someKindUnknown = true
        return FileResult(documents: documents, diagnostics: [diagnostic])
    }

    /// Reads one accepted file through its resolved path, refusing anything but a regular
    /// file of at most `maxFileSize` bytes before reading a byte of it.
    static func decodeFile(_ file: ManifestFile, limits: YAMLLimits, maxFileSize: Int) -> FileResult {
        let path = file.display
        let start = SourceLocation(file: path, line: 1, column: 1)
        let bytes: [UInt8]
        switch ManifestFileReader.read(file.real, maxSize: maxFileSize) {
        case .success(let read):
            bytes = read
        case .failure(.unreadable):
            return unreadableFile(Diagnostic(.fileUnreadable, at: start, "cannot read '\(path)'",
                                             hint: "check that it exists and is readable (a broken link?)"))
        case .failure(.notRegular):
            return unreadableFile(Diagnostic(.fileUnreadable, at: start, "'\(path)' is not a regular file"))
        case .failure(.tooLarge(let size)):
            return unreadableFile(Diagnostic(
                .fileTooLarge, at: start,
                "file is \(Self.megabytes(size)), more than the \(Self.megabytes(maxFileSize)) limit for one manifest file",
                hint: "split the fleet over several files"))
        }
        return decodeBytes(bytes, path: path, limits: limits)
    }

    /// Decodes one file's bytes, named `path` in diagnostics.
    static func decodeBytes(_ bytes: [UInt8], path: String, limits: YAMLLimits) -> FileResult {
        let start = SourceLocation(file: path, line: 1, column: 1)
        let decoder = ManifestFileDecoder(file: path, bytes: bytes, limits: limits)
        decoder.decode()
        var diagnostics = decoder.diagnostics
        if diagnostics.isEmpty && decoder.documents.count == 0 && decoder.documents.unreadable == UnreadableDocuments() {
            diagnostics.append(Diagnostic(.emptyFile, at: start, "'\(path)' holds no manifest document",
                                          hint: "remove the file, or write the documents it was meant to hold", severity: .warning))
        }
        return FileResult(documents: decoder.documents, diagnostics: diagnostics)
    }

    /// Bytes in MiB with one decimal, for any size (no overflow for the largest file sizes).
    static func megabytes(_ bytes: Int) -> String {
        let bytes = max(bytes, 0)
        var whole = bytes >> 20
        var tenths = ((bytes & ((1 << 20) - 1)) * 10 + (1 << 19)) >> 20
        if tenths == 10 { whole += 1; tenths = 0 }
        return "\(whole).\(tenths) MiB"
    }
    /// The manifest files under `paths`, each folder walked recursively in sorted order and
    /// confined to it (see ``ManifestDiscovery``).
    func manifestFiles(paths: [String], diagnostics: inout [Diagnostic]) -> [ManifestFile] {
        var discovery = ManifestDiscovery(maxDepth: maxDepth, maxEntries: maxEntries)
        discovery.discover(paths)
        diagnostics += discovery.diagnostics
        return discovery.files
    }

    static func isManifestName(_ name: String) -> Bool {
        let lowered = name.lowercased()
        return lowered.hasSuffix(".yaml") || lowered.hasSuffix(".yml")
    }
}
