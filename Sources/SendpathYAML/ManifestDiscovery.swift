import SendpathCore
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One manifest file found: the path as the operator wrote it (for diagnostics) and the
/// resolved path that is read (no symbolic link left in it).
struct ManifestFile: Sendable, Hashable {
    var display: String
    var real: String
}

/// Finds the manifest files under the paths given, without ever leaving them.
///
/// The rule (docs/manifests.md, "Which files are read"):
/// - A path named on the command line is trusted as given, link or not; it is the *root* of
///   what is found under it, resolved once.
/// - Under a root, a symbolic link (to a file or a folder) is followed only when its resolved
///   path stays inside the resolved root. Otherwise it is refused with `path-outside-root`,
///   and nothing behind it is opened, listed or read.
/// - A link back to a folder being walked is a loop (`symlink-loop`, a warning: the folder is
///   read once); a link that cannot be resolved because it loops is `symlink-loop` too.
/// - The walk is bounded: at most ``maxDepth`` folders deep and ``maxEntries`` entries in
///   all (`walk-limit`), so a root such as `/` finishes quickly.
struct ManifestDiscovery {
    var maxDepth: Int
    var maxEntries: Int

    private(set) var files: [ManifestFile] = []
    private(set) var diagnostics: [Diagnostic] = []
    /// Whether some path was refused or not resolved: it may have declared anything.
    private(set) var refusedAny = false

    private var seenFiles = Set<String>()
    private var visitedFolders = Set<String>()
    private var entries = 0
    private var limitReported = false

    /// Lists a folder's entry names, or says why it cannot (`strerror` text). Injected by tests:
    /// root reads every folder, so a folder it cannot list has to be faked.
    var listFolder: @Sendable (String) -> Result<[String], FolderListingError> = Self.list

    init(maxDepth: Int, maxEntries: Int) {
        self.maxDepth = maxDepth
        self.maxEntries = maxEntries
    }

    /// Why a folder could not be listed.
    struct FolderListingError: Error, Sendable {
        var reason: String
    }

    static func list(_ folder: String) -> Result<[String], FolderListingError> {
        guard let stream = opendir(folder) else {
            return .failure(FolderListingError(reason: String(cString: strerror(errno))))
        }
        defer { closedir(stream) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { return .failure(FolderListingError(reason: String(cString: strerror(errno)))) }
                return .success(names)
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
    }

    mutating func discover(_ paths: [String]) {
        for rawPath in paths {
            let path = rawPath.count > 1 && rawPath.hasSuffix("/") ? String(rawPath.dropLast()) : rawPath
            guard let real = Self.resolve(path) else {
                if errno == ELOOP {
                    refuse(.symlinkLoop, path, "'\(path)' is a symbolic link that loops; it was not read",
                           hint: "point the link at a file or folder")
                } else {
                    diagnostics.append(Diagnostic(.pathNotFound, at: Self.start(path), "no such file or folder: '\(path)'"))
                }
                continue
            }
            guard Self.isDirectory(real) else {
                if seenFiles.insert(real).inserted { files.append(ManifestFile(display: path, real: real)) }
                continue
            }
            // A folder named twice, or inside another root given: its files are already found.
            guard !visitedFolders.contains(real) else { continue }
            var found: [ManifestFile] = []
            let reportedBefore = diagnostics.count
            walk(path, real: real, root: real, rootDisplay: path, depth: 0, ancestors: [real], into: &found)
            // A folder whose only candidates were refused has had its say already.
            if found.isEmpty && !diagnostics[reportedBefore...].contains(where: { $0.severity == .error }) {
                diagnostics.append(Diagnostic(.noManifests, at: Self.start(path),
                                              "folder '\(path)' holds no .yaml or .yml file",
                                              hint: "point sendpath at the folder that holds the manifests"))
            }
            for file in found.sorted(by: { $0.display.utf8.lexicographicallyPrecedes($1.display.utf8) })
            where seenFiles.insert(file.real).inserted {
                files.append(file)
            }
        }
    }

    /// Collects the manifest files below `folder` (whose resolved path is `real`).
    private mutating func walk(_ folder: String, real: String, root: String, rootDisplay: String, depth: Int,
                               ancestors: [String], into found: inout [ManifestFile]) {
        guard visitedFolders.insert(real).inserted else { return }
        guard depth <= maxDepth else {
            reportLimit(folder, "folder '\(folder)' is more than \(maxDepth) folders below '\(rootDisplay)'; it was not read")
            return
        }
        let names: [String]
        switch listFolder(real) {
        case .success(let listed):
            names = listed
        case .failure(let error):
            // It may declare anything: planning without it would plan a different fleet.
            refuse(.fileUnreadable, folder, "cannot read folder '\(folder)': \(error.reason); nothing in it was read",
                   hint: "make the folder readable by this user, or remove it")
            return
        }
        for name in names.sorted() where !name.hasPrefix(".") {
            entries += 1
            guard entries <= maxEntries else {
                reportLimit(rootDisplay, "more than \(maxEntries) files and folders under '\(rootDisplay)'; the rest were not read")
                return
            }
            let display = folder == "." ? name : folder + "/" + name
            let entryPath = real == "/" ? "/" + name : real + "/" + name
            let isManifest = ManifestLoader.isManifestName(name)
            var info = stat()
            guard lstat(entryPath, &info) == 0 else { continue }
            if info.st_mode & S_IFMT == S_IFLNK {
                guard let target = Self.resolve(entryPath) else {
                    if errno == ELOOP {
                        refuse(.symlinkLoop, display, "'\(display)' is a symbolic link that loops; it was not read",
                               hint: "point the link at a file or folder inside '\(rootDisplay)'")
                    } else if isManifest {
                        refuse(.fileUnreadable, display, "cannot read '\(display)'",
                               hint: "check that it exists and is readable (a broken link?)")
                    }
                    continue
                }
                let isFolder = Self.isDirectory(target)
                guard isFolder || isManifest else { continue }  // never read: no need to judge it
                guard Self.path(target, isInside: root) else {
                    refuse(.pathOutsideRoot, display,
                           "'\(display)' is a symbolic link to a \(isFolder ? "folder" : "file") outside '\(rootDisplay)'; it was not read",
                           hint: "links are followed only within the folder given; copy the \(isFolder ? "folder" : "file") in, or name it on the command line")
                    continue
                }
                if isFolder {
                    if ancestors.contains(target) {
                        diagnostics.append(Diagnostic(
                            .symlinkLoop, at: Self.start(display),
                            "'\(display)' links back to a folder that holds it; its files are read once",
                            hint: "remove the link", severity: .warning))
                        continue
                    }
                    walk(display, real: target, root: root, rootDisplay: rootDisplay, depth: depth + 1,
                         ancestors: ancestors + [target], into: &found)
                } else {
                    found.append(ManifestFile(display: display, real: target))
                }
            } else if info.st_mode & S_IFMT == S_IFDIR {
                walk(display, real: entryPath, root: root, rootDisplay: rootDisplay, depth: depth + 1,
                     ancestors: ancestors + [entryPath], into: &found)
            } else if isManifest {
                found.append(ManifestFile(display: display, real: entryPath))
            }
            if limitReported { return }
        }
    }

    private mutating func refuse(_ rule: DiagnosticRule, _ display: String, _ message: String, hint: String) {
        refusedAny = true
        diagnostics.append(Diagnostic(rule, at: Self.start(display), message, hint: hint))
    }

    private mutating func reportLimit(_ display: String, _ message: String) {
        refusedAny = true
        guard !limitReported else { return }
        limitReported = true
        diagnostics.append(Diagnostic(.walkLimit, at: Self.start(display), message,
                                      hint: "point sendpath at the folder that holds the manifests"))
    }

    static func start(_ path: String) -> SourceLocation {
        SourceLocation(file: path, line: 1, column: 1)
    }

    /// Whether `path` is `root` or below it (both resolved).
    static func path(_ path: String, isInside root: String) -> Bool {
        root == "/" || path == root || path.hasPrefix(root + "/")
    }

    /// The resolved absolute path (`realpath(3)`), or `nil` with `errno` set.
    static func resolve(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }
}
