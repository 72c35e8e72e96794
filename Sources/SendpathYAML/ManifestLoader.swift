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
/// does not depend on scheduling. Hidden files and folders (`.git`) are skipped.
public struct ManifestLoader: Sendable {
    public var limits: YAMLLimits
    /// Files larger than this are refused unread, with a diagnostic.
    public var maxFileSize: Int

    public static let defaultMaxFileSize = 16 << 20

    public init(limits: YAMLLimits = YAMLLimits(), maxFileSize: Int = ManifestLoader.defaultMaxFileSize) {
        self.limits = limits
        self.maxFileSize = maxFileSize
    }

    /// Loads and validates; `fleet` is set only when there is no error.
    ///
    /// The rules across documents run even when some documents had errors of their own: on
    /// the documents that decoded, without blaming what the others may declare (see
    /// ``UnreadableDocuments``), so one run reports every problem it can.
    public func load(paths: [String]) -> ManifestLoadResult {
        var result = decode(paths: paths)
        let decodedCleanly = !result.diagnostics.hasErrors
        let validation = FleetValidator.validate(result.documents)
        result.documents = ManifestSet()  // the fleet holds them now
        result.diagnostics += validation.diagnostics
        result.fleet = decodedCleanly ? validation.fleet : nil
        result.diagnostics = result.diagnostics.sortedByLocation()
        return result
    }

    /// Reads and decodes every file, without the rules across documents.
    public func decode(paths: [String]) -> ManifestLoadResult {
        var diagnostics: [Diagnostic] = []
        let files = manifestFiles(paths: paths, diagnostics: &diagnostics)
        let results = Mutex<[FileResult?]>(Array(repeating: nil, count: files.count))
        let limits = self.limits
        let maxFileSize = self.maxFileSize
        DispatchQueue.concurrentPerform(iterations: files.count) { index in
            let decoded = Self.decodeFile(files[index], limits: limits, maxFileSize: maxFileSize)
            results.withLock { $0[index] = decoded }
        }
        var documents = ManifestSet()
        for result in results.withLock({ $0 }) {
            guard let result else { continue }
            documents.append(contentsOf: result.documents)
            diagnostics += result.diagnostics
        }
        return ManifestLoadResult(files: files, documents: documents, diagnostics: diagnostics, fleet: nil)
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

    static func decodeFile(_ path: String, limits: YAMLLimits, maxFileSize: Int) -> FileResult {
        let start = SourceLocation(file: path, line: 1, column: 1)
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: realPath(path)),
              let size = (attributes[.size] as? NSNumber)?.intValue else {
            return unreadableFile(Diagnostic(.fileUnreadable, at: start, "cannot read '\(path)'",
                                             hint: "check that it exists and is readable (a broken link?)"))
        }
        guard attributes[.type] as? FileAttributeType == .typeRegular else {
            return unreadableFile(Diagnostic(.fileUnreadable, at: start, "'\(path)' is not a regular file"))
        }
        guard size <= maxFileSize else {
            return unreadableFile(Diagnostic(
                .fileTooLarge, at: start,
                "file is \(Self.megabytes(size)), more than the \(Self.megabytes(maxFileSize)) limit for one manifest file",
                hint: "split the fleet over several files"))
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            return unreadableFile(Diagnostic(.fileUnreadable, at: start, "cannot read '\(path)'"))
        }
        let decoder = ManifestFileDecoder(file: path, bytes: data, limits: limits)
        decoder.decode()
        return FileResult(documents: decoder.documents, diagnostics: decoder.diagnostics)
    }

    static func megabytes(_ bytes: Int) -> String {
        let tenths = (bytes * 10 + (1 << 19)) >> 20
        return "\(tenths / 10).\(tenths % 10) MiB"
    }

    /// The manifest files under `paths`, each folder walked recursively in sorted order.
    func manifestFiles(paths: [String], diagnostics: inout [Diagnostic]) -> [String] {
        var files: [String] = []
        // A file reached twice (named twice, or through a link) is read once.
        var seen = Set<String>()
        var visitedFolders = Set<String>()
        let manager = FileManager.default
        for rawPath in paths {
            let path = rawPath.count > 1 && rawPath.hasSuffix("/") ? String(rawPath.dropLast()) : rawPath
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else {
                diagnostics.append(Diagnostic(.pathNotFound, at: SourceLocation(file: path, line: 1, column: 1),
                                              "no such file or folder: '\(path)'"))
                continue
            }
            if !isDirectory.boolValue {
                if seen.insert(Self.realPath(path)).inserted { files.append(path) }
                continue
            }
            var found: [String] = []
            walk(path, into: &found, visited: &visitedFolders)
            if found.isEmpty {
                diagnostics.append(Diagnostic(.noManifests, at: SourceLocation(file: path, line: 1, column: 1),
                                              "folder '\(path)' holds no .yaml or .yml file",
                                              hint: "point sendpath at the folder that holds the manifests"))
            }
            for file in found.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) where seen.insert(Self.realPath(file)).inserted {
                files.append(file)
            }
        }
        return files
    }

    static func realPath(_ path: String) -> String {
        URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
    }

    static func isManifestName(_ name: String) -> Bool {
        let lowered = name.lowercased()
        return lowered.hasSuffix(".yaml") || lowered.hasSuffix(".yml")
    }

    /// Collects manifest files below `folder`; a folder reached again through a link is skipped.
    private func walk(_ folder: String, into files: inout [String], visited: inout Set<String>) {
        guard visited.insert(Self.realPath(folder)).inserted,
              let entries = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for entry in entries where !entry.hasPrefix(".") {
            let path = folder == "." ? entry : folder + "/" + entry
            let isManifest = Self.isManifestName(entry)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                // A dangling link named like a manifest is reported as unreadable, not skipped.
                if isManifest { files.append(path) }
                continue
            }
            if isDirectory.boolValue {
                walk(path, into: &files, visited: &visited)
            } else if isManifest {
                files.append(path)
            }
        }
    }
}
