import ArgumentParser
import SendpathCore

/// `sendpath`: moves the email-sending path of marketing-platform instances as declared
/// in manifests. Each subcommand lives in its own file; this one only lists them.
@main
struct SendpathCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sendpath",
        abstract: "Move the email-sending path of marketing-platform instances, as declared in manifests.",
        version: SendpathVersion.current,
        subcommands: [ValidateCommand.self, ReconcileCommand.self, StatusCommand.self, NotifyCommand.self, SuspendCommand.self, ResumeCommand.self, ApproveCommand.self, HistoryCommand.self, ControllerCommand.self, SchemaCommand.self, SimulatorCommand.self, ProviderCommand.self]
    )
}
