import Foundation
import Synchronization
public import ModVaultCore

/// A long operation the server runs: an ID, its state and progress, kept after it ends so a page
/// opened (or reloaded) later still sees it.
public struct WebJob: Codable, Sendable, Equatable {
    /// The job's ID.
    public var id: String
    /// What it does (`restore`).
    public var kind: String
    /// `running`, `done` or `failed`.
    public var state: String
    /// One line saying what it works on.
    public var title: String
    /// Files finished, and expected (0 while unknown).
    public var files: Int
    public var totalFiles: Int
    /// Bytes done, and expected (0 while unknown).
    public var bytes: Int64
    public var totalBytes: Int64
    /// The outcome, or why it failed.
    public var message: String
    /// When it started.
    public var started: Date

    enum CodingKeys: String, CodingKey {
        case id, kind, state, title, files, bytes, message, started
        case totalFiles = "total_files", totalBytes = "total_bytes"
    }
}

/// Every job of this server process, by ID. Jobs update it as they go; the progress stream reads it.
public final class WebJobs: Sendable {
    private let jobs = Mutex<[String: WebJob]>([:])

    /// An empty list.
    public init() {}

    /// Starts `work` as a job; `work` reports progress through the updater it is given.
    public func start(kind: String, title: String,
                      _ work: @escaping @Sendable (_ update: @escaping @Sendable (Int, Int, Int64, Int64) -> Void) async throws -> String) -> WebJob {
        let id = Hex.encode((0..<8).map { _ in UInt8.random(in: 0...255) })
        let job = WebJob(id: id, kind: kind, state: "running", title: title, files: 0, totalFiles: 0, bytes: 0, totalBytes: 0, message: "",
                         started: Date())
        jobs.withLock { $0[id] = job }
        Task.detached { [self] in
            let update: @Sendable (Int, Int, Int64, Int64) -> Void = { files, totalFiles, bytes, totalBytes in
                self.jobs.withLock { all in
                    all[id]?.files = files; all[id]?.totalFiles = totalFiles
                    all[id]?.bytes = bytes; all[id]?.totalBytes = totalBytes
                }
            }
            do {
                let message = try await work(update)
                jobs.withLock { $0[id]?.state = "done"; $0[id]?.message = message }
            } catch {
                jobs.withLock { $0[id]?.state = "failed"; $0[id]?.message = (error as? ModVaultFailure)?.description ?? "\(error)" }
            }
        }
        return job
    }

    /// The job `id`, if any.
    public func job(_ id: String) -> WebJob? { jobs.withLock { $0[id] } }

    /// Every job, newest first.
    public var all: [WebJob] { jobs.withLock { Array($0.values) }.sorted { ($0.started, $0.id) > ($1.started, $1.id) } }
}
