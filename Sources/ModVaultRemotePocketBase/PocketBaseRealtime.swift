internal import Foundation
internal import ModVaultRemoteSupport

/// One record change delivered by PocketBase realtime.
public struct PocketBaseEvent: Sendable, Equatable {
    /// The subscription topic the change came on, e.g. `team/*`.
    public var topic: String
    /// The record's `collectionName`.
    public var collection: String
    /// `create`, `update` or `delete`.
    public var action: String
    /// The record's `id`.
    public var recordID: String
    /// The record's top-level scalar fields as text (integral numbers without `.0`, bools as `true`/`false`); null, objects and arrays left out.
    public var fields: [String: String]
}

/// What a realtime stream yields: first that its subscriptions are active, then each record change.
public enum PocketBaseRealtimeMessage: Sendable, Equatable {
    /// The subscriptions are active: every change from now on is delivered, so a listing made after this misses nothing.
    case subscribed
    /// One record change.
    case event(PocketBaseEvent)
}

extension PocketBaseRemote {
    /// The longest silence a realtime connection may keep before it counts as lost (PocketBase ends a connection idle for 5 minutes itself).
    static let realtimeSilenceLimit: TimeInterval = 600
    /// The largest event accepted, in bytes.
    static let realtimeEventLimit = 1 << 20
    /// Events held for a consumer that has not taken them yet; one more ends the stream (the consumer reconnects and catches up).
    static let realtimeBacklogLimit = 1024

    /// Opens one realtime connection subscribed to `topics` (e.g. `objects/*`) as this remote's user.
    ///
    /// Yields `.subscribed` once the subscriptions are active, then each change, until the connection
    /// ends: the stream then throws a `RemoteError` (`.connectionLost` when the server ends it, as it
    /// does after 5 idle minutes), and the caller reconnects and lists to catch up. Ending the consuming
    /// task (or dropping the stream) closes the connection.
    ///
    /// The server filters changes by the collection's list rule (view rule for a single-record topic)
    /// as applied to this remote's account. Signs in afresh first: PocketBase takes an expired token
    /// without a word, as a guest who would then see nothing.
    public func realtime(topics: [String]) -> AsyncThrowingStream<PocketBaseRealtimeMessage, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(
            of: PocketBaseRealtimeMessage.self, bufferingPolicy: .bufferingOldest(Self.realtimeBacklogLimit))
        let connection = Task {
            do {
                try await runRealtime(topics: topics) { message in
                    if case .dropped = continuation.yield(message) {
                        throw RemoteError(.connectionLost, location: location,
                                          detail: "realtime: more than \(Self.realtimeBacklogLimit) changes waited unread; reconnect and list to catch up")
                    }
                }
            } catch {
                // A cancelled connection has no consumer left to tell.
                continuation.finish(throwing: Task.isCancelled ? nil : realtimeFailure(error))
            }
        }
        continuation.onTermination = { _ in connection.cancel() }
        return stream
    }

    /// Connects, subscribes and hands every message to `deliver`; ends only by throwing.
    private func runRealtime(topics: [String], deliver: (PocketBaseRealtimeMessage) throws -> Void) async throws {
        guard !topics.isEmpty else { throw RemoteError(.invalidConfiguration, location: location, detail: "realtime: no topics to subscribe to") }
        let token = try await authToken(renew: true)
        guard let url = URL(string: address.baseURL + "/api/realtime") else {
            throw RemoteError(.invalidConfiguration, location: location, detail: "bad URL \(address.baseURL)/api/realtime")
        }
        let request = HTTPRequest(method: "GET", url: url, headers: [("Accept", "text/event-stream"), ("Cache-Control", "no-store")],
                                  timeout: Self.realtimeSilenceLimit)
        var parser = ServerSentEventParser(limit: Self.realtimeEventLimit)
        var subscribed = false
        let response = try await AsyncHTTPTransport.shared.stream(request) { piece in
            for event in try parser.feed(piece) {
                if subscribed {
                    try deliver(.event(try realtimeEvent(event)))
                    continue
                }
                guard event.type == "PB_CONNECT",
                      let connect = try? JSONDecoder().decode(RealtimeConnect.self, from: Data(event.data.utf8)) else {
                    throw RemoteError(.unexpectedResponse, location: location,
                                      detail: "realtime: the first event is \(event.type), not PB_CONNECT with a clientId")
                }
                try await subscribe(clientID: connect.clientId, topics: topics, token: token)
                subscribed = true
                try deliver(.subscribed)
            }
        }
        guard (200..<300).contains(response.status) else { throw failure(response, object: nil) }
        throw RemoteError(.connectionLost, location: location,
                          detail: subscribed ? "the server ended the realtime connection" : "the realtime connection ended before PB_CONNECT")
    }

    /// Sets the subscriptions of realtime client `clientID`, as the account of `token`.
    private func subscribe(clientID: String, topics: [String], token: String) async throws {
        let body = try JSONEncoder().encode(RealtimeSubscriptions(clientId: clientID, subscriptions: topics))
        let response = try await send("POST", path: "/api/realtime", headers: [("Authorization", token), ("Content-Type", "application/json")],
                                      body: [UInt8](body), object: nil)
        guard (200..<300).contains(response.status) else { throw failure(response, object: nil) }
    }

    /// The record change an event carries: `{"action": …, "record": {"id": …, "collectionName": …, …}}`.
    private func realtimeEvent(_ event: ServerSentEvent) throws -> PocketBaseEvent {
        guard let change = try? JSONDecoder().decode(RealtimeChange.self, from: Data(event.data.utf8)),
              let id = change.record["id"]?.text, let collection = change.record["collectionName"]?.text else {
            throw RemoteError(.unexpectedResponse, location: location, detail: "realtime: unreadable \(event.type) event")
        }
        return PocketBaseEvent(topic: event.type, collection: collection, action: change.action, recordID: id,
                               fields: change.record.compactMapValues(\.text))
    }

    /// `error` as a `RemoteError` naming this remote.
    private func realtimeFailure(_ error: any Error) -> RemoteError {
        switch error {
        case let error as RemoteError: return error
        case let error as HTTPTransportError: return RemoteError(error.remoteReason, location: location, detail: "realtime: \(error.message)")
        case let error as ServerSentEventParser.Overflow:
            return RemoteError(.unexpectedResponse, location: location, detail: "realtime: an event longer than the \(error.limit) bytes allowed")
        default: return RemoteError(.unexpectedResponse, location: location, detail: "realtime: \(error)")
        }
    }
}

/// The data of `PB_CONNECT`.
private struct RealtimeConnect: Decodable {
    var clientId: String
}

/// The body that sets a realtime client's subscriptions.
private struct RealtimeSubscriptions: Encodable {
    var clientId: String
    var subscriptions: [String]
}

/// The data of a record change event.
private struct RealtimeChange: Decodable {
    var action: String
    var record: [String: RecordScalar]
}

/// One top-level record value, as text when it is a string, number or bool.
private struct RecordScalar: Decodable {
    var text: String?

    init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer()
        if value.decodeNil() {
            text = nil
        } else if let bool = try? value.decode(Bool.self) {
            text = bool ? "true" : "false"
        } else if let integer = try? value.decode(Int64.self) {
            text = String(integer)
        } else if let number = try? value.decode(Double.self) {
            // PocketBase numbers are JSON doubles: 4.0 is the integer 4.
            text = number == number.rounded() && abs(number) < 9.2e18 ? String(Int64(number)) : String(number)
        } else {
            text = try? value.decode(String.self)
        }
    }
}

/// One server-sent event: its type (`message` when unnamed), its data lines joined by newlines, and the last `id` seen.
struct ServerSentEvent: Sendable, Equatable {
    var type: String
    var data: String
    var id: String?
}

/// Splits a `text/event-stream` body into events as its bytes arrive, by the WHATWG rules: lines end
/// in CR, LF or CRLF; `field: value` (one space after the colon dropped); `:` starts a comment; a
/// blank line ends an event, one without data is dropped; an unfinished event at the end is lost.
/// At most `limit` bytes of one event (its lines, comments included) are held.
struct ServerSentEventParser {
    /// An event longer than the limit.
    struct Overflow: Error {
        var limit: Int
    }

    let limit: Int
    private var line: [UInt8] = []
    private var type = ""
    private var data: [UInt8] = []
    private var lastID: String?
    private var held = 0
    private var afterCR = false
    private var firstLine = true

    init(limit: Int) {
        self.limit = limit
    }

    /// The events that `bytes`, the next part of the stream, completes.
    mutating func feed(_ bytes: [UInt8]) throws -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        for byte in bytes {
            // CRLF is one line end, even when a piece ends between the two.
            if afterCR {
                afterCR = false
                if byte == 0x0A { continue }
            }
            if byte == 0x0D || byte == 0x0A {
                afterCR = byte == 0x0D
                if let event = endLine() { events.append(event) }
                continue
            }
            held += 1
            guard held <= limit else { throw Overflow(limit: limit) }
            line.append(byte)
        }
        return events
    }

    private mutating func endLine() -> ServerSentEvent? {
        defer { line.removeAll(keepingCapacity: true) }
        if firstLine {
            firstLine = false
            if line.starts(with: [0xEF, 0xBB, 0xBF]) { line.removeFirst(3) }
        }
        guard let first = line.first else { return dispatch() }
        if first == UInt8(ascii: ":") { return nil }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
        var value = line[min(colon + 1, line.endIndex)...]
        if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        switch String(decoding: line[..<colon], as: UTF8.self) {
        case "event": type = String(decoding: value, as: UTF8.self)
        case "data":
            data += value
            data.append(0x0A)
        case "id" where !value.contains(0): lastID = String(decoding: value, as: UTF8.self)
        default: break  // retry, and fields this parser does not know
        }
        return nil
    }

    private mutating func dispatch() -> ServerSentEvent? {
        defer {
            type = ""
            data = []
            held = 0
        }
        guard !data.isEmpty else { return nil }
        data.removeLast()
        return ServerSentEvent(type: type.isEmpty ? "message" : type, data: String(decoding: data, as: UTF8.self), id: lastID)
    }
}
