import Foundation

/// Writes to stdout and stderr without buffering surprises (Swift 6 has no `fputs(stderr)`).
enum StandardStreams {
    static func out(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// One chunk of a document written as it is produced.
    static func out(bytes: [UInt8]) {
        bytes.withUnsafeBytes { FileHandle.standardOutput.write(Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: $0.baseAddress!),
                                                                       count: $0.count, deallocator: .none)) }
    }

    static func err(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Whether stdout is a terminal (live progress lines only then).
    static var stdoutIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }
}
