import ArgumentParser
import SendpathCore
import SendpathYAML

/// Maps failures to the contract's exit codes with one clear line on stderr:
/// locked 75, invalid manifests 65, runtime failures 1. Usage errors (64) and explicit
/// exit codes pass through.
func withCommandErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let exit as ExitCode {
        throw exit
    } catch let usage as ValidationError {
        throw usage
    } catch StateStoreError.locked(let holder, let scope, let expiresAt) {
        StandardStreams.err("sendpath: locked: another reconciler holds the \(scope) lease: \(holder), until \(expiresAt); try again when it has finished\n")
        throw ExitCode(Outcome.locked.exitCode)
    } catch {
        StandardStreams.err("sendpath: error: \(error)\n")
        throw ExitCode(Outcome.error.exitCode)
    }
}

extension ManifestOptions {
    /// Loads and validates; prints the diagnostics and exits 65 when invalid.
    func loadFleet() throws -> Fleet {
        let result = load()
        printDiagnostics(result.diagnostics)
        guard let fleet = result.fleet else {
            let errors = result.diagnostics.filter { $0.severity == .error }.count
            StandardStreams.err("invalid: \(counted(errors, "error")); nothing was changed\n")
            throw ExitCode(Outcome.invalid.exitCode)
        }
        return fleet
    }
}
