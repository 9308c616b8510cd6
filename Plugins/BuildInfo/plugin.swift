import Foundation
import PackagePlugin

/// Records the git commit a build is made from, for `swiftlet --version`, `swiftlet info` and the
/// config.json of every checkpoint: before each build, scripts/build-info.sh writes
/// BuildCommit.swift (rewritten only when the commit changed, so an unchanged tree rebuilds nothing).
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "BuildInfo")
        let script = context.package.directoryURL.appending(path: "scripts/build-info.sh")
        return [
            .prebuildCommand(
                displayName: "Recording the git commit of this build", executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [script.path, output.appending(path: "BuildCommit.swift").path], outputFilesDirectory: output
            )
        ]
    }
}
