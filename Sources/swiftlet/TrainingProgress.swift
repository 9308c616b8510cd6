import ArgumentParser
import Swiftlet

/// What `train` and `finetune` print while a Trainer runs.
enum TrainingProgress {
    static func describe(_ corpus: PreparedCorpus, seconds: Double, heldOut: String) {
        let name = corpus.training.name, documents = corpus.training.documents
        if corpus.heldOutFromTraining {
            Console.info("\(name): no validation text given, holding out the last \(heldOut) of the tokens")
        }
        let weight = corpus.training.weight != 1 ? ", weight \(corpus.training.weight)" : ""
        Console.info(
            "\(name): \(Format.grouped(documents.documentCount)) documents, \(Format.grouped(documents.count)) training tokens, \(Format.grouped(corpus.validation.documents.count)) validation tokens\(weight)"
                + (corpus.cached ? " (token cache)" : " (tokenized in \(Format.seconds(seconds)))"))
    }

    /// Joins the trainer to this process's MPI job (when mpirun started it) and says how the
    /// work is shared; a resumed run saved by another number of ranks is told what changes.
    static func join(_ trainer: Trainer, _ world: Communicator) throws {
        trainer.communicator = world
        let saved = trainer.state.step > 0 ? trainer.state.ranks ?? 1 : world.size
        let batch = trainer.state.options.batchTokens
        if world.isParallel {
            guard batch >= world.size else {
                throw SwiftletError("--batch-tokens (\(batch)) must be at least the number of ranks (\(world.size)).")
            }
            let share = BatchPlan(
                batchTokens: batch, microBatchTokens: trainer.state.options.microBatchTokens, ranks: world.size
            ).microBatches[0]
            Console.info(
                "data parallel: \(world.summary) × \(ComputeThreads.count) thread\(ComputeThreads.count == 1 ? "" : "s"); each rank trains on \(Format.grouped(share.reduce(0, +))) of the \(Format.grouped(batch)) tokens of every step; rank 0 writes the checkpoint"
            )
        }
        if saved != world.size {
            Console.info(
                "this run was saved by \(saved) rank\(saved == 1 ? "" : "s") and continues on \(world.size): the same global batch of \(Format.grouped(batch)) tokens in the same data order, now cut into \(world.size) slice\(world.size == 1 ? "" : "s") (a document crossing a cut is split there), so it does not repeat what \(saved) rank\(saved == 1 ? "" : "s") would have computed exactly"
            )
        }
    }

    /// Runs the trainer with a progress line; Ctrl-C ends with status 130 once the checkpoint is
    /// safe. With `stopAt`, the run saves and stops after that step (status 0), to be continued
    /// with --resume on the same schedule.
    @discardableResult
    static func run(
        _ trainer: Trainer, interruptedHint: String = "continue with --resume", stopAt: Int? = nil
    ) throws -> TrainingOutcome {
        let outcome = try trainer.run(
            report: { event in
                switch event {
                case let .step(step, total, loss, learningRate, tokensPerSecond, seconds, eta, communication):
                    var line = "step \(step)" + (total.map { "/\($0)" } ?? "")
                    line += " | loss \(Format.fixed(loss, 3)) | \(Format.grouped(Int(tokensPerSecond))) tok/s"
                    if let communication {
                        line +=
                            " | comm \(Format.fixed(communication.seconds * 1000, 1)) ms (waiting \(Format.fixed(communication.waitingSeconds * 1000, 1)))"
                    }
                    line += " | lr \(Format.scientific(Double(learningRate))) | \(Format.seconds(seconds))"
                    if let eta { line += " | ETA \(Format.seconds(eta))" }
                    Console.progress(line)
                case let .evaluation(step, result, perCorpus):
                    Console.info(
                        "step \(step): validation loss \(Format.fixed(result.loss, 3)), perplexity \(Format.fixed(result.perplexity, 1)), \(Format.fixed(result.bitsPerByte, 3)) bits per byte"
                    )
                    for corpus in perCorpus {
                        Console.info(
                            "  \(corpus.name): loss \(Format.fixed(corpus.result.loss, 3)), \(Format.fixed(corpus.result.bitsPerByte, 3)) bits per byte"
                        )
                    }
                case let .saved(step, directory):
                    Console.info("saved \(directory) at step \(step)")
                    Interrupt.jobEnded(savedStep: step, directory: directory)
                }
            }, shouldStop: { Interrupt.isRequested || stopAt.map { trainer.state.step >= $0 } ?? false })
        if outcome == .interrupted, !Interrupt.isRequested, let stopAt {
            Console.info(
                "stopped after step \(stopAt) as --stop-at asked; the checkpoint is saved; continue with --resume")
            return outcome
        }
        if outcome == .interrupted {
            Console.info("interrupted: the checkpoint is saved; \(interruptedHint)")
            throw ExitCode(130)
        }
        return outcome
    }
}
