import Foundation
import Synchronization
import Testing
import ModVaultCore
import ModVaultRemoteSupport
@testable import ModVaultRemotePocketBase

/// Reads a realtime stream on a task of its own, so a test can wait for what arrived with a deadline.
final class RealtimeInbox: Sendable {
    private struct State {
        var messages: [PocketBaseRealtimeMessage] = []
        var ended = false
        var error: (any Error)?
    }

    private let state = Mutex(State())
    private let reader = Mutex<Task<Void, Never>?>(nil)

    init(_ stream: AsyncThrowingStream<PocketBaseRealtimeMessage, any Error>) {
        reader.withLock { $0 = Task { await self.read(stream) } }
    }

    private func read(_ stream: AsyncThrowingStream<PocketBaseRealtimeMessage, any Error>) async {
        do {
            for try await message in stream { state.withLock { $0.messages.append(message) } }
            state.withLock { $0.ended = true }
        } catch {
            state.withLock { $0.ended = true; $0.error = error }
        }
    }

    /// What arrived so far.
    var messages: [PocketBaseRealtimeMessage] { state.withLock { $0.messages } }

    /// The record changes that arrived so far.
    var events: [PocketBaseEvent] {
        messages.compactMap { if case .event(let event) = $0 { event } else { nil } }
    }

    /// Waits until `count` messages arrived or the stream ended, for at most `limit`; returns what arrived.
    @discardableResult
    func messages(_ count: Int, within limit: Duration = .seconds(20)) async throws -> [PocketBaseRealtimeMessage] {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline, state.withLock({ $0.messages.count < count && !$0.ended }) {
            try await Task.sleep(for: .milliseconds(20))
        }
        return messages
    }

    /// Waits until the stream ended, for at most `limit`; returns the error it ended with (nil if none, or not ended).
    func ending(within limit: Duration = .seconds(20)) async throws -> (ended: Bool, error: (any Error)?) {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline, !state.withLock({ $0.ended }) { try await Task.sleep(for: .milliseconds(20)) }
        return state.withLock { ($0.ended, $0.error) }
    }

    /// Stops reading: the stream, and its connection, end.
    func close() {
        reader.withLock { $0?.cancel() }
    }
}

extension LiveRemoteTests {
    /// PocketBase realtime (server-sent events) against a real server.
    @Suite("PocketBase realtime")
    struct PocketBaseRealtimeOnServer {
        static func pocketBaseRemote() async throws -> PocketBaseRemote {
            try #require(try await RemoteKind.pocketBase.makeRemote() as? PocketBaseRemote)
        }

        /// Established TCP connections from this machine to 127.0.0.1:`port` (Linux `/proc/net/tcp`).
        static func connections(toPort port: Int) throws -> Int {
            // Read to the end: procfs files report a size of 0.
            let file = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/net/tcp"))
            defer { try? file.close() }
            let table = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
            let remote = String(format: "0100007F:%04X", port)
            // Columns: sl, local address, remote address, state (01 = established), …
            return table.split(separator: "\n").dropFirst().filter { line in
                let columns = line.split(separator: " ")
                return columns.count > 3 && columns[2] == remote && columns[3] == "01"
            }.count
        }

        /// An admitted user gets `.subscribed` first, then every change in order with the record's fields.
        @Test("changes arrive in order, after the subscribed marker")
        func changesArriveInOrder() async throws {
            let remote = try await Self.pocketBaseRemote()
            let topic = remote.address.collection + "/*"
            let inbox = RealtimeInbox(remote.realtime(topics: [topic]))
            defer { inbox.close() }
            #expect(try await inbox.messages(1) == [.subscribed])

            let first = Fixture.name(.snapshot), second = Fixture.name(.index)
            try await remote.save(first, data: [1, 2, 3], ifAbsent: true)
            try await remote.save(second, data: [4], ifAbsent: true)
            try await remote.remove(first)
            let messages = try await inbox.messages(4)
            #expect(messages.first == .subscribed)
            let events = inbox.events
            try #require(events.count == 3, "got \(messages)")
            #expect(events.map(\.action) == ["create", "create", "delete"])
            #expect(events.map { $0.fields["name"] } == [first.name, second.name, first.name])
            #expect(events.map { $0.fields["kind"] } == [first, second, first].map(\.kind.rawValue))
            #expect(events.map { $0.fields["size"] } == ["3", "1", "3"])
            #expect(events.allSatisfy { $0.topic == topic && $0.collection == remote.address.collection })
            #expect(events[0].recordID == events[2].recordID && events[0].recordID != events[1].recordID)
            #expect(events[0].fields["id"] == events[0].recordID)
        }

        /// An account the collection's rules do not admit subscribes without complaint and hears nothing,
        /// while an admitted one hears the same change.
        @Test("the server filters changes by the collection's rules")
        func outsidersHearNothing() async throws {
            let remote = try await Self.pocketBaseRemote()
            let outsiderEmail = "outsider-\(Fixture.uniqueName())@modvault.test"
            try await PocketBaseAdmin(baseURL: remote.address.baseURL).createUser(email: outsiderEmail, password: TestServers.userPassword)
            let outsider = PocketBaseRemote(address: remote.address, credentials: .password(email: outsiderEmail, password: TestServers.userPassword))
            let topic = remote.address.collection + "/*"
            let member = RealtimeInbox(remote.realtime(topics: [topic]))
            let stranger = RealtimeInbox(outsider.realtime(topics: [topic]))
            defer { member.close(); stranger.close() }
            #expect(try await member.messages(1) == [.subscribed])
            #expect(try await stranger.messages(1) == [.subscribed])

            let name = Fixture.name(.pack)
            try await remote.save(name, data: [9], ifAbsent: true)
            try await member.messages(2)
            #expect(member.events.map { $0.fields["name"] } == [name.name])
            try await Task.sleep(for: .milliseconds(1500))
            #expect(stranger.messages == [.subscribed])
        }

        /// A private PocketBase, killed: the stream ends with a retryable `RemoteError` naming the remote;
        /// restarted on the same data, a new stream subscribes and hears changes again.
        @Test("the stream ends with an error when the server dies, and a new one works after a restart")
        func serverKilled() async throws {
            let server = try await PrivatePocketBase.start()
            defer { server.stop() }
            let baseURL = server.baseURL, port = server.port
            let remote = PocketBaseRemote(address: PocketBaseAddress(baseURL: baseURL, collection: "t\(Fixture.uniqueName())"),
                                          credentials: .password(email: TestServers.userEmail, password: TestServers.userPassword))
            try await remote.createProject(superuserEmail: TestServers.superuserEmail, password: TestServers.superuserPassword)
            let topic = remote.address.collection + "/*"

            let inbox = RealtimeInbox(remote.realtime(topics: [topic]))
            defer { inbox.close() }
            #expect(try await inbox.messages(1) == [.subscribed])
            // Ending the consuming task closes its connection at once (pooled connections idle for 30 s).
            let cancelled = RealtimeInbox(remote.realtime(topics: [topic]))
            #expect(try await cancelled.messages(1) == [.subscribed])
            let open = try Self.connections(toPort: port)
            #expect(open >= 2, "both streams' connections are seen")
            cancelled.close()
            let deadline = ContinuousClock.now + .seconds(2)
            while try Self.connections(toPort: port) >= open, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            let left = try Self.connections(toPort: port)
            #expect(left == open - 1, "\(open) connections before, \(left) after")
            server.kill()
            let (ended, error) = try await inbox.ending()
            #expect(ended, "the stream outlived its server")
            let failure = try #require(error as? RemoteError, "ended with \(String(describing: error))")
            #expect(failure.reason == .connectionLost)
            #expect(failure.isRetryable)
            #expect(failure.description.hasPrefix(remote.location))

            try await server.restart()
            let again = RealtimeInbox(remote.realtime(topics: [topic]))
            defer { again.close() }
            #expect(try await again.messages(1) == [.subscribed])
            let name = Fixture.name(.snapshot)
            try await remote.save(name, data: [1], ifAbsent: true)
            try await again.messages(2)
            #expect(again.events.map { $0.fields["name"] } == [name.name])
        }
    }
}

/// The server-sent events parser, fed by hand.
@Suite("PocketBase realtime event parsing")
struct PocketBaseRealtimeParsingTests {
    /// Feeds `pieces` in turn and returns every event completed.
    func parse(_ pieces: [String], limit: Int = 1 << 20) throws -> [ServerSentEvent] {
        var parser = ServerSentEventParser(limit: limit)
        return try pieces.flatMap { try parser.feed(Array($0.utf8)) }
    }

    @Test("fields, multi-line data, comments, ids and unnamed events")
    func fields() throws {
        let events = try parse([
            "\u{FEFF}: a comment\nid:abc\nevent:PB_CONNECT\ndata:{\"clientId\":\"abc\"}\n\n",
            "event: team/*\ndata: line one\ndata:line two\ndata\nretry: 10\nunknown: x\n\n",
            "data:no name\n\n",
            "event:nothing\n\n",
            "data: unfinished",
        ])
        #expect(events == [
            ServerSentEvent(type: "PB_CONNECT", data: "{\"clientId\":\"abc\"}", id: "abc"),
            ServerSentEvent(type: "team/*", data: "line one\nline two\n", id: "abc"),
            ServerSentEvent(type: "message", data: "no name", id: "abc"),
        ])
    }

    @Test("CR, LF and CRLF end lines, also when a piece ends between CR and LF")
    func lineEnds() throws {
        let events = try parse(["event:a\r", "\ndata:1\r", "\r", "event:b\rdata:2\r\n", "\r\n", "data:3\n", "\n"])
        #expect(events.map(\.type) == ["a", "b", "message"])
        #expect(events.map(\.data) == ["1", "2", "3"])
    }

    @Test("an event longer than the limit is refused, comments included; a blank line starts the count again")
    func limit() throws {
        #expect(try parse(["data:" + String(repeating: "x", count: 95) + "\n\n", "data:" + String(repeating: "y", count: 95) + "\n\n"], limit: 100).count == 2)
        #expect(throws: ServerSentEventParser.Overflow.self) { try parse(["data:" + String(repeating: "x", count: 96) + "\n"], limit: 100) }
        #expect(throws: ServerSentEventParser.Overflow.self) { try parse(Array(repeating: ":keep-alive\n", count: 20), limit: 100) }
    }
}
