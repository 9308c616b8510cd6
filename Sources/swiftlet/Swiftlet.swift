import ArgumentParser
import Swiftlet

@main
struct SwiftletCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftlet",
        abstract: "Train, fine-tune and run small Transformer language models on your CPU.",
        subcommands: [TrainCommand.self, GenerateCommand.self, EvalCommand.self, InfoCommand.self, TokenizerCommand.self]
    )
}
