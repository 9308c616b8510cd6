/// A user-facing failure: one sentence a person understands. The command line prints it and
/// exits non-zero; library code throws it for bad input and never traps on it.
public struct SwiftletError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
