import Foundation
import Hummingbird
import ModVaultCore
import ModVaultStore
import ModVaultSync

/// The synced folders `serve --folder` names: their state, the push log of their remote, a sync
/// started as a job, and their conflicts, resolved one path at a time. Folders are named in URLs by
/// their position in that list, so no path from a request ever names a folder.
extension WebServer {
    /// A folder's state and status, as `modvault status --json` gives it.
    struct FolderStatus: Encodable {
        var index: Int
        var folder: String
        var remote: String
        var head: String?
        var remoteHead: String?
        var seq: UInt64
        var ahead: Int
        var behind: Int?
        var localChanges: [String]
        var conflicts: [ConflictItem]
        var lastSync: Date?
        var remoteError: String?

        enum CodingKeys: String, CodingKey {
            case index, folder, remote, head, seq, ahead, behind, conflicts
            case remoteHead = "remote_head", localChanges = "local_changes", lastSync = "last_sync", remoteError = "remote_error"
        }
    }

    struct ConflictItem: Encodable {
        var path: String
        var kind: String
        var resolution: String
        var theirs: String?
        var records: [String]
    }

    func boundFolder(_ index: Int) throws -> (path: String, state: FolderSyncState, sync: FolderSync) {
        guard configuration.folders.indices.contains(index) else { throw WebError.notFound("no folder #\(index)") }
        let path = configuration.folders[index]
        let repo = repository.withLock { $0 }
        guard let state = try FolderSyncState.load(path), state.repository == repo.config.id else {
            throw WebError.notFound("\(path) is not synced with this repository (run 'modvault sync \(path) --remote NAME' once)")
        }
        let remote = try configuration.openRemote(state.remote).remote
        return (path, state, FolderSync(repository: repo, remote: remote, folder: path))
    }

    func folderStatus(_ index: Int) async throws -> FolderStatus {
        let (path, state, sync) = try boundFolder(index)
        var behind: Int? = nil
        var remoteError: String? = nil
        do { behind = try await PushLog(remote: sync.remote, repository: sync.repository).read(after: state.mergedSeq ?? state.seq).entries.count } catch {
            remoteError = (error as? ModVaultFailure)?.description ?? "\(error)"
        }
        return FolderStatus(index: index, folder: path, remote: state.remote, head: state.head?.hex, remoteHead: state.remoteHead?.hex, seq: state.seq,
                            ahead: sync.ahead(state: state), behind: behind, localChanges: try sync.localChanges(state: state),
                            conflicts: state.conflicts.map(Self.conflict), lastSync: state.lastSync, remoteError: remoteError)
    }

    static func conflict(_ c: SyncConflict) -> ConflictItem {
        ConflictItem(path: c.path, kind: c.kind.rawValue, resolution: c.resolution, theirs: c.theirs?.hex,
                     records: (c.records ?? []).map { "\($0.kind) \($0.type) \($0.formID)" + ($0.editorID.map { " \($0)" } ?? "") })
    }

    /// Starts a sync of folder `index` as a job.
    func startSync(_ index: Int) throws -> WebJob {
        let (path, state, sync) = try boundFolder(index)
        return jobs.start(kind: "sync", title: "sync \(path) with \(state.remote)") { update in
            let report = try await sync.run(state: state)
            update(report.filesWritten, report.filesWritten, report.bytesDownloaded + report.bytesUploaded, report.bytesDownloaded + report.bytesUploaded)
            var parts: [String] = []
            if report.pulled { parts.append("wrote \(report.filesWritten) and removed \(report.filesRemoved) files") }
            if report.pushed { parts.append("pushed #\(report.seq)") }
            if !report.conflicts.isEmpty { parts.append("\(report.conflicts.count) conflicts wait on the Sync page") }
            return parts.isEmpty ? "in step" : parts.joined(separator: ", ")
        }
    }

    /// Settles one conflict of folder `index` as `modvault resolve` does; returns the folder's status after.
    func resolveConflict(_ index: Int, path: String, take: String) async throws -> FolderStatus {
        let (_, state, sync) = try boundFolder(index)
        guard let choice = FolderSync.Take(rawValue: take) else { throw WebError.badRequest("take must be ours, theirs or both") }
        guard state.conflicts.contains(where: { $0.path == path }) else { throw WebError.notFound("no conflict at \(path)") }
        _ = try sync.resolve(path, take: choice, state: state)
        return try await folderStatus(index)
    }

    func syncPage(_ csrf: String?) async throws -> Response {
        guard !configuration.folders.isEmpty else {
            return WebResponse.html(HTML.page(title: "Sync", csrf: csrf, body: "<p>No synced folders: start the server with <code>modvault serve --folder DIR</code>.</p>"))
        }
        var body = ""
        for index in configuration.folders.indices {
            guard let s = try? await folderStatus(index) else {
                body += "<h2>\(HTML.escape(configuration.folders[index]))</h2><p class=error>not synced with this repository</p>"
                continue
            }
            body += """
                <h2>\(HTML.escape(s.folder))</h2>
                <p>remote <b>\(HTML.escape(s.remote))</b> · head \(s.head.map { String($0.prefix(8)) } ?? "none") · remote head \(s.remoteHead.map { String($0.prefix(8)) } ?? "none") at #\(s.seq)
                · ahead \(s.ahead) · behind \(s.behind.map(String.init) ?? "unknown") · last sync \(s.lastSync.map(HTML.time) ?? "never")
                · \(s.localChanges.count) local changes</p>
                \(s.remoteError.map { "<p class=error>\(HTML.escape($0))</p>" } ?? "")
                <p class=job-slot data-folder=\(index)><button class=sync-now data-folder=\(index)>Sync now</button></p>
                """
            if !s.conflicts.isEmpty {
                body += "<h3>Conflicts</h3><table class=conflicts><tr><th>path</th><th>kind</th><th>theirs</th><th>records</th><th>resolve</th></tr>"
                for c in s.conflicts {
                    let buttons = ["ours", "theirs", "both"].map {
                        "<button class=resolve data-folder=\(index) data-path=\"\(HTML.escape(c.path))\" data-take=\($0)>\($0)</button>"
                    }.joined(separator: " ")
                    body += "<tr><td>\(HTML.escape(c.path))</td><td>\(HTML.escape(c.kind))</td><td>\(c.theirs.map { String($0.prefix(8)) } ?? "")</td>"
                        + "<td class=inside>\(HTML.escape(c.records.joined(separator: "\n")))</td><td>\(buttons)</td></tr>"
                }
                body += "</table>"
            }
            if let pb = try? configuration.openRemote(s.remote), let reading = try? await PushLog(remote: pb.remote, repository: model.repository).read(after: 0) {
                body += "<h3>Push log</h3><table class=pushlog><tr><th>#</th><th>time</th><th>snapshot</th><th>who</th><th>changes</th></tr>"
                for e in reading.entries.suffix(50).reversed() {
                    body += "<tr><td>\(e.seq)</td><td>\(HTML.time(e.time))</td><td>\(e.snapshot.short)\(e.parents.count > 1 ? " <span class=merge>merge</span>" : "")</td>"
                        + "<td>\(HTML.escape(e.author)) (\(HTML.escape(String(e.device.prefix(8)))))</td>"
                        + "<td>+\(e.summary.added) ~\(e.summary.changed) −\(e.summary.removed)</td></tr>"
                }
                body += "</table>"
            }
        }
        body += """
            <script>
            document.querySelectorAll('button.sync-now').forEach(b=>b.onclick=async()=>{try{
              const job=await post('/api/v1/folders/'+b.dataset.folder+'/sync',{});const el=b.parentElement;
              el.dataset.job=job.id;el.innerHTML='<span class=title></span> <progress></progress> <span class=state></span>';
              el.querySelector('.title').textContent=job.title;follow(job.id,el)}catch(e){alert(e.message)}});
            document.querySelectorAll('button.resolve').forEach(b=>b.onclick=async()=>{try{
              await post('/api/v1/folders/'+b.dataset.folder+'/resolve',{path:b.dataset.path,take:b.dataset.take});location.reload()}
              catch(e){alert(e.message)}});
            </script>
            """
        return WebResponse.html(HTML.page(title: "Sync", csrf: csrf, body: body))
    }
}
