import Testing
import ModVaultCore
import ModVaultRemoteSupport

/// Enough retries that 10 % faults essentially never exhaust them (0.1^10), with short sleeps.
let faultRetries = RetryPolicy(maxAttempts: 10, initialDelay: .milliseconds(2), maxDelay: .milliseconds(40), maxTotalTime: .seconds(60))

extension LiveRemoteTests {
    @Suite("Fault injection")
    struct FaultInjection {
        @Test("RetryingRemote completes every operation while 10% of requests fail or time out", arguments: RemoteKind.allCases)
        func retriesOverFaults(_ kind: RemoteKind) async throws {
            let real = try await kind.makeRemote(pageSize: 5)
            let faulty = FaultInjectingRemote(real, failureRate: 0.1, seed: 0x5EED + UInt64(kind.rawValue.utf8.count))
            let remote = RetryingRemote(faulty, policy: faultRetries, seed: 1)
            let ifAbsent = kind.writesThroughRemote && kind.expectedCreateIfAbsent

            var stored: [ObjectName: [UInt8]] = [:]
            for i in 0..<30 {
                let name = Fixture.name(i % 3 == 0 ? .pack : .index)
                let data = Fixture.bytes(200 + i * 37, seed: UInt64(i))
                try await remote.save(name, data: data, ifAbsent: ifAbsent)
                stored[name] = data
            }
            for (name, data) in stored {
                #expect(try await remote.stat(name) == Int64(data.count))
                #expect(try await remote.load(name, range: nil) == data)
                #expect(try await remote.load(name, range: 10..<20) == Array(data[10..<20]))
            }
            let indexNames = stored.keys.filter { $0.kind == .index }.map(\.name).sorted { RemoteLayout.precedes($0, $1) }
            #expect(try await Fixture.listAll(remote, .index, limit: 6).map(\.name.name) == indexNames)

            let removed = Array(stored.keys.prefix(10))
            for name in removed { try await remote.remove(name) }
            for name in removed { #expect(try await remote.stat(name) == nil) }
            let remaining = stored.keys.filter { $0.kind == .pack && !removed.contains($0) }.map(\.name).sorted { RemoteLayout.precedes($0, $1) }
            #expect(try await Fixture.listAll(remote, .pack, limit: 4).map(\.name.name) == remaining)

            let faults = faulty.injectedFaults.values.reduce(0, +)
            #expect(faults > 0, "the seed injected no faults in \(faulty.operationCount) operations")
        }
    }
}
