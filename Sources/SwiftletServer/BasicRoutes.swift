import HTTPTypes
import Hummingbird
import Swiftlet
#if canImport(Glibc)
import Glibc
#endif

func unixTime() -> Int { Int(time(nil)) }

extension Response {
    /// A JSON body.
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(
            status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: value.serialized + "\n"))
        )
    }
}

extension SwiftletServer {
    func health() -> Response {
        isShuttingDown ? .json(["status": "shutting down"], status: .serviceUnavailable) : .json(["status": "ok"])
    }

    func prometheusMetrics() -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.exposition(driver.currentStatus))))
    }

    var modelObject: JSONValue {
        .object([
            ("id", .string(served.name)), ("object", "model"), ("created", .int(created)), ("owned_by", "swiftlet"),
            ("context_length", .int(served.model.config.contextLength)),
        ])
    }

    func models() -> Response {
        .json(.object([("object", "list"), ("data", [modelObject])]))
    }

    func model(id: String) throws -> Response {
        guard id == served.name else { throw modelNotFound(id) }
        return .json(modelObject)
    }

    func modelNotFound(_ id: String) -> APIError {
        APIError(
            .notFound, "The model `\(id)` does not exist; this server serves `\(served.name)`.", param: "model",
            code: "model_not_found")
    }

    /// A request names the served model or none.
    func checkModel(_ id: String?) throws {
        if let id, id != served.name { throw modelNotFound(id) }
    }

    /// The whole body, refused beyond the size limit before it is read in full.
    func body(of request: inout Request) async throws -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > options.maxBodyBytes {
            throw APIError(
                .contentTooLarge,
                "the request body is \(length) bytes; this server accepts at most \(options.maxBodyBytes).",
                code: "request_too_large")
        }
        do {
            let buffer = try await request.collectBody(upTo: options.maxBodyBytes)
            return Array(buffer.readableBytesView)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError(
                .contentTooLarge,
                "the request body is larger than \(options.maxBodyBytes) bytes, the most this server accepts.",
                code: "request_too_large")
        }
    }

    /// 503 with Retry-After for a full queue or a server shutting down.
    func unavailable(_ refusal: EngineDriver.Refusal) -> APIError {
        var error: APIError
        switch refusal {
        case .queueFull:
            metrics.recordRejection("queue_full")
            error = APIError(
                .serviceUnavailable,
                "the server is busy: \(options.parallel) requests are running and \(options.maxWaiting) waiting; retry shortly.",
                code: "server_overloaded")
        case .stopping:
            metrics.recordRejection("shutting_down")
            error = APIError(.serviceUnavailable, "the server is shutting down.", code: "server_shutting_down")
        }
        error.headers[.retryAfter] = "1"
        return error
    }
}
