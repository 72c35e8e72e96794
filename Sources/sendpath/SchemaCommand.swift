import ArgumentParser
import SendpathCore

/// `sendpath schema`: prints the JSON Schema of the manifests, for editors.
struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema (draft 2020-12) of manifest documents, for editors.",
        discussion: "With yaml-language-server, add '# yaml-language-server: $schema=sendpath.schema.json' to a manifest."
    )

    func run() throws {
        StandardStreams.out(ManifestJSONSchema.document().serialized() + "\n")
    }
}
