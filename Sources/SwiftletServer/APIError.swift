import HTTPTypes
import Hummingbird

/// A failed request, answered as OpenAI answers one:
/// `{"error": {"message": …, "type": …, "param": …, "code": …}}` with the HTTP status.
struct APIError: Error, HTTPResponseError {
    let status: HTTPResponse.Status
    let message: String
    let type: String
    /// The request field at fault, as a path (`messages[1].content`).
    let param: String?
    let code: String?
    var headers: HTTPFields = [:]

    init(
        _ status: HTTPResponse.Status, _ message: String, type: String? = nil, param: String? = nil, code: String? = nil
    ) {
        self.status = status
        self.message = message
        self.type = type ?? (status.code >= 500 ? "server_error" : "invalid_request_error")
        self.param = param
        self.code = code
    }

    /// 400 for a field that is missing, of the wrong type, or out of range.
    static func invalid(_ param: String, _ message: String, code: String? = nil) -> APIError {
        APIError(.badRequest, message, param: param, code: code)
    }

    var body: JSONValue {
        .object([
            (
                "error",
                .object([
                    ("message", .string(message)), ("type", .string(type)), ("param", .optional(param)),
                    ("code", .optional(code)),
                ])
            )
        ])
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        response
    }

    var response: Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(
            status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: body.serialized + "\n")))
    }
}
