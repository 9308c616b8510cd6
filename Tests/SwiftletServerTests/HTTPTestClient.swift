import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP/1.1 client on SwiftNIO's own codec, for driving the server in tests: whole
/// requests, and streamed ones that can stop reading (and close the connection) midway.
struct HTTPTestClient {
    let port: Int

    struct Response {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    func get(_ path: String, headers: [(String, String)] = []) async throws -> Response {
        try await send(.GET, path, headers: headers, body: nil)
    }

    func post(_ path: String, json: String, headers: [(String, String)] = []) async throws -> Response {
        try await send(.POST, path, headers: [("Content-Type", "application/json")] + headers, body: Array(json.utf8))
    }

    func send(
        _ method: HTTPMethod, _ path: String, headers: [(String, String)], body: [UInt8]?
    ) async throws -> Response {
        var response = Response(status: 0, headers: [], body: [])
        try await exchange(method, path, headers: headers, body: body) { part in
            switch part {
            case .head(let head):
                response.status = Int(head.status.code)
                response.headers = head.headers.map { ($0.name, $0.value) }
            case .body(let buffer):
                response.body += buffer.readableBytesView
            case .end:
                break
            }
            return true
        }
        return response
    }

    /// Sends a request and hands every response part to `onPart` until the response ends or
    /// `onPart` returns false — or, with `closeAfter`, reads nothing and waits that long — then
    /// closes the connection.
    func exchange(
        _ method: HTTPMethod, _ path: String, headers: [(String, String)], body: [UInt8]?,
        closeAfter seconds: Double? = nil,
        onPart: (HTTPClientResponsePart) async throws -> Bool = { _ in true }
    ) async throws {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
            head.headers.add(name: "Host", value: "127.0.0.1:\(port)")
            for (name, value) in headers { head.headers.add(name: name, value: value) }
            if let body { head.headers.add(name: "Content-Length", value: String(body.count)) }
            try await outbound.write(.head(head))
            if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
            try await outbound.write(.end(nil))
            if let seconds {
                // Walk away without reading the answer.
                try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                return
            }
            for try await part in inbound {
                guard try await onPart(part) else { return }
                if case .end = part { return }
            }
        }
    }

    /// The `data:` payloads of a server-sent event stream, until `[DONE]` or `stopAfter` events.
    func events(
        _ path: String, json: String, headers: [(String, String)] = [], stopAfter limit: Int = .max
    ) async throws -> (status: Int, events: [String]) {
        var status = 0
        var events: [String] = []
        var pending = ""
        try await exchange(
            .POST, path, headers: [("Content-Type", "application/json")] + headers, body: Array(json.utf8)
        ) { part in
            switch part {
            case .head(let head):
                status = Int(head.status.code)
            case .body(let buffer):
                pending += String(buffer: buffer)
                while let end = pending.range(of: "\n\n") {
                    let event = String(pending[..<end.lowerBound])
                    pending.removeSubrange(..<end.upperBound)
                    if event.hasPrefix("data: ") { events.append(String(event.dropFirst(6))) }
                    if events.count >= limit { return false }
                }
            case .end:
                break
            }
            return true
        }
        return (status, events)
    }
}
