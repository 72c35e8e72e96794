import ArgumentParser
import Foundation
import Logging
import SendpathCore
import SendpathHTTP
import SendpathPostfixBGP

/// `sendpath provider`: the postfix-bgp provider on its own.
struct ProviderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provider",
        abstract: "The postfix-bgp provider (Postfix MTAs and GoBGP speakers): check its configuration, serve it over the provider API.",
        subcommands: [Check.self, Serve.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a postfix-bgp provider configuration; every mistake is printed as file:line:column.")

        @Option(help: ArgumentHelp("The provider configuration (YAML, docs/postfix-bgp.md).", valueName: "path"))
        var config: String

        func run() async throws {
            try await withCommandErrors {
                let configuration = try PostfixBGPConfiguration.load(path: config)
                StandardStreams.out("valid: \(configuration.instances.count) instances, \(configuration.sites.count) sites\n")
            }
        }
    }

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve the postfix-bgp provider over the provider HTTP API (docs/provider-api.yaml).",
            discussion: "Clients must present the bearer token from SENDPATH_PROVIDER_TOKEN. Binds to 127.0.0.1 unless told otherwise; prints the address it listens on."
        )

        @Option(help: ArgumentHelp("The provider configuration (YAML, docs/postfix-bgp.md).", valueName: "path"))
        var config: String

        @Option(help: ArgumentHelp("Where to listen (HOST:PORT; port 0 picks a free one).", valueName: "address"))
        var listen: String = "127.0.0.1:8481"

        @Option(help: ArgumentHelp("Log format on stderr: human or json.", valueName: "format"))
        var logFormat: String = "human"

        func validate() throws {
            _ = try ListenAddress(listen)
            guard LogSetup.Format(rawValue: logFormat) != nil else { throw ValidationError("--log-format must be human or json") }
        }

        func run() async throws {
            let served = try ServedProvider(listen: listen, logFormat: logFormat, label: "sendpath.provider")
            try await withCommandErrors {
                let provider = try PostfixBGPProvider.open(path: config, logger: served.logger)
                try await served.serve(provider, as: "the postfix-bgp provider")
            }
        }
    }
}

/// What `simulator serve` and `provider serve` share: the bearer token (from the environment
/// only), the listen address, the logs, and the provider API server itself.
struct ServedProvider {
    let token: String
    let address: ListenAddress
    /// Logs go to stderr in the chosen format, from info up.
    let logger: Logger

    init(listen: String, logFormat: String, label: String) throws {
        let token = ProcessInfo.processInfo.environment["SENDPATH_PROVIDER_TOKEN"] ?? ""
        guard !token.isEmpty else {
            throw ValidationError("set SENDPATH_PROVIDER_TOKEN to the bearer token clients must present (it is never taken from the command line)")
        }
        self.token = token
        address = try ListenAddress(listen)
        LogSetup.bootstrap(LogSetup.Format(rawValue: logFormat) ?? .human)
        var logger = Logger(label: label)
        logger.logLevel = .info
        self.logger = logger
    }

    /// Serves `provider` until stopped; prints the address once listening.
    func serve(_ provider: any Provider, as name: String) async throws {
        let host = address.host
        let app = ProviderAPIServer.makeApplication(provider: provider, token: token, host: host, port: address.port, logger: logger) { port in
            StandardStreams.out("serving \(name) on http://\(host):\(port)\n")
        }
        try await app.runService()
    }
}
