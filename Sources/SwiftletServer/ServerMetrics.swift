import CoreMetrics
import Prometheus
import Swiftlet

/// The server's metrics, kept through swift-metrics with a Prometheus registry of this server's
/// own behind it (so several servers in one process — the tests — never mix their counts), and
/// written in Prometheus' text format for GET /metrics.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    let promptTokens: CoreMetrics.Counter
    let generatedTokens: CoreMetrics.Counter
    let timeToFirstToken: CoreMetrics.Timer
    let timePerOutputToken: CoreMetrics.Timer
    let requestDuration: CoreMetrics.Timer
    let queueLength: CoreMetrics.Gauge
    let runningSequences: CoreMetrics.Gauge
    let kvBlocksInUse: CoreMetrics.Gauge
    let kvBlocks: CoreMetrics.Gauge

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = [
            "swiftlet_time_to_first_token_seconds": [
                .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
                .seconds(10), .seconds(30),
            ],
            "swiftlet_time_per_output_token_seconds": [
                .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(20),
                .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            ],
            "swiftlet_request_duration_seconds": [
                .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120),
            ],
        ]
        self.factory = factory
        promptTokens = CoreMetrics.Counter(label: "swiftlet_prompt_tokens_total", factory: factory)
        generatedTokens = CoreMetrics.Counter(label: "swiftlet_generation_tokens_total", factory: factory)
        timeToFirstToken = CoreMetrics.Timer(label: "swiftlet_time_to_first_token_seconds", factory: factory)
        timePerOutputToken = CoreMetrics.Timer(label: "swiftlet_time_per_output_token_seconds", factory: factory)
        requestDuration = CoreMetrics.Timer(label: "swiftlet_request_duration_seconds", factory: factory)
        queueLength = CoreMetrics.Gauge(label: "swiftlet_queue_length", factory: factory)
        runningSequences = CoreMetrics.Gauge(label: "swiftlet_running_sequences", factory: factory)
        kvBlocksInUse = CoreMetrics.Gauge(label: "swiftlet_kv_blocks_in_use", factory: factory)
        kvBlocks = CoreMetrics.Gauge(label: "swiftlet_kv_blocks_total", factory: factory)
    }

    /// One answered request, by endpoint and HTTP status.
    func recordRequest(endpoint: String, status: Int, seconds: Double) {
        CoreMetrics.Counter(
            label: "swiftlet_requests_total", dimensions: [("endpoint", endpoint), ("status", String(status))],
            factory: factory
        ).increment()
        requestDuration.record(seconds: seconds)
    }

    /// A request refused before it ran (queue full, shutting down).
    func recordRejection(_ reason: String) {
        CoreMetrics.Counter(
            label: "swiftlet_requests_rejected_total", dimensions: [("reason", reason)], factory: factory
        ).increment()
    }

    /// An ended completion: its prompt and generated tokens (the end-of-sequence token included).
    func recordCompletion(_ result: GenerationResult) {
        promptTokens.increment(by: result.promptTokens)
        generatedTokens.increment(by: result.completionTokens)
    }

    /// The text exposition, with the engine's gauges as of now.
    func exposition(_ status: EngineDriver.Status) -> [UInt8] {
        queueLength.record(status.waiting)
        runningSequences.record(status.running)
        kvBlocksInUse.record(status.blocksInUse)
        kvBlocks.record(status.blockCount)
        return registry.emitToBuffer()
    }
}

extension CoreMetrics.Timer {
    func record(seconds: Double) { recordNanoseconds(Int64(max(0, seconds) * 1e9)) }
}

extension GenerationResult {
    /// Tokens the model produced: the reply's, plus the end-of-sequence token that ended it.
    var completionTokens: Int { tokens.count + (stopReason == .endOfSequence ? 1 : 0) }
}
