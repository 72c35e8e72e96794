/// The version of Sendpath, printed by `--version` and in SARIF and JSON reports.
public enum SendpathVersion {
    public static let current = "0.1.0"
}
