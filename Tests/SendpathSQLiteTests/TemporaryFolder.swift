import Foundation
import Logging

/// A fresh folder under the system temporary directory, removed by ``remove()``.
struct TemporaryFolder: Sendable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("sendpath-sqlite-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// A path inside the folder (not created).
    func file(_ name: String) -> String { path + "/" + name }

    /// A new, empty subfolder's path for one store's database.
    func freshDatabasePath() -> String { path + "/\(UUID().uuidString)/state.db" }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

extension Logger {
    static let quiet = Logger(label: "sendpath.tests.sqlite", factory: { _ in SwiftLogNoOpLogHandler() })
}
