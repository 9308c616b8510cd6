import HTTPTypes
import Hummingbird
import Logging
import Swiftlet

/// Counts every answered request by endpoint and status for /metrics.
struct RequestAccounting: RouterMiddleware {
    typealias Context = BasicRequestContext
    let metrics: ServerMetrics

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = Stopwatch.now()
        let response = try await next(request, context)
        let endpoint = context.endpointPath ?? "unknown"
        metrics.recordRequest(endpoint: endpoint, status: Int(response.status.code), seconds: Stopwatch.now() - start)
        return response
    }
}

/// Every error leaves as an OpenAI-style error object: ours as they are, the framework's (an
/// unknown path, a body over the limit) with their status, anything else as a 500 that says
/// nothing of the server's insides (the log has it).
struct OpenAIErrors: RouterMiddleware {
    typealias Context = BasicRequestContext
    let logger: Logger

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response
        } catch let error as HTTPError {
            switch error.status {
            case .notFound:
                return APIError(
                    .notFound, "Unknown request URL: \(request.method) \(request.uri.path).", code: "unknown_url"
                ).response
            case .contentTooLarge:
                return APIError(
                    .contentTooLarge, "the request body is larger than this server accepts.", code: "request_too_large"
                ).response
            default:
                return APIError(error.status, error.body ?? error.status.reasonPhrase).response
            }
        } catch {
            logger.error("request to \(request.uri.path) failed: \(error)")
            return APIError(.internalServerError, "the server failed to answer this request.").response
        }
    }
}

/// `Authorization: Bearer <key>` on every path but /health, compared in constant time.
struct BearerAuthentication: RouterMiddleware {
    typealias Context = BasicRequestContext
    let key: String

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if request.uri.path == "/health" { return try await next(request, context) }
        let header = request.headers[.authorization] ?? ""
        let prefix = "Bearer "
        guard header.hasPrefix(prefix), Self.equal(Array(header.utf8.dropFirst(prefix.utf8.count)), Array(key.utf8))
        else {
            var error = APIError(
                .unauthorized,
                header.isEmpty
                    ? "this server needs an API key: send `Authorization: Bearer <key>`."
                    : "the API key is not valid.", code: "invalid_api_key")
            error.headers[.wwwAuthenticate] = "Bearer"
            throw error
        }
        return try await next(request, context)
    }

    /// Compares every byte whatever the first difference, so timing does not reveal the key.
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0
    }
}
