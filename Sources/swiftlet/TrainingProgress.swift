import ArgumentParser
import Swiftlet

/// What `train` and `finetune` print while a Trainer runs.
enum TrainingProgress {
    static func describe(_ corpus: PreparedCorpus, seconds: Double, heldOut: String) {
        let name = corpus.training.name, documents = corpus.training.documents
        if corpus.heldOutFromTraining { Console.info("\(name): no validation text given, holding out the last \(heldOut) of the tokens") }
        let weight = corpus.training.weight != 1 ? ", weight \(corpus.training.weight)" : ""
        Console.info("\(name): \(Format.grouped(documents.documentCount)) documents, \(Format.grouped(documents.count)) training tokens, \(Format.grouped(corpus.validation.documents.count)) validation tokens\(weight)" +
                     (corpus.cached ? " (token cache)" : " (tokenized in \(Format.seconds(seconds)))"))
    }

    /// Runs the trainer with a progress line; Ctrl-C ends with status 130 once the checkpoint is safe.
    @discardableResult
    static func run(_ trainer: Trainer, interruptedHint: String = "continue with --resume") throws -> TrainingOutcome {
        let outcome = try trainer.run(report: { event in
            switch event {
            case let .step(step, total, loss, learningRate, tokensPerSecond, seconds, eta):
                var line = "step \(step)" + (total.map { "/\($0)" } ?? "")
                line += " | loss \(Format.fixed(loss, 3)) | \(Format.grouped(Int(tokensPerSecond))) tok/s"
                line += " | lr \(Format.scientific(Double(learningRate))) | \(Format.seconds(seconds))"
                if let eta { line += " | ETA \(Format.seconds(eta))" }
                Console.progress(line)
            case let .evaluation(step, result, perCorpus):
                Console.info("step \(step): validation loss \(Format.fixed(result.loss, 3)), perplexity \(Format.fixed(result.perplexity, 1)), \(Format.fixed(result.bitsPerByte, 3)) bits per byte")
                for corpus in perCorpus {
                    Console.info("  \(corpus.name): loss \(Format.fixed(corpus.result.loss, 3)), \(Format.fixed(corpus.result.bitsPerByte, 3)) bits per byte")
                }
            case let .saved(step, directory):
                Console.info("saved \(directory) at step \(step)")
            }
        }, shouldStop: { Interrupt.isRequested })
        if outcome == .interrupted {
            Console.info("interrupted: the checkpoint is saved; \(interruptedHint)")
            throw ExitCode(130)
        }
        return outcome
    }
}
