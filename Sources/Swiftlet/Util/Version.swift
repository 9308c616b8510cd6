/// Which Swiftlet this is: the release number, and the git commit it was built from (recorded
/// at build time by the BuildInfo plugin, in `commit`). `swiftlet --version` prints it, `info`
/// shows it, and every checkpoint's config.json records it.
public enum SwiftletVersion {
    public static let number = "0.1.0"

    /// "0.1.0 (commit 0123456789ab)".
    public static var description: String { "\(number) (commit \(commit))" }
}
