import Foundation
import Hummingbird
import ModVaultCore
import ModVaultStore
import ModVaultArchive
import ModVaultFormats
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

    /// Settles one conflict of folder `index` as `modvault resolve` does, for the whole path (`take`) or
    /// record by record (`records`: FormID → ours or theirs); returns the folder's status after.
    func resolveConflict(_ index: Int, path: String, take: String?, records: [String: String]?) async throws -> FolderStatus {
        let (_, state, sync) = try boundFolder(index)
        guard state.conflicts.contains(where: { $0.path == path }) else { throw WebError.notFound("no conflict at \(path)") }
        if let take {
            guard let choice = FolderSync.Take(rawValue: take) else { throw WebError.badRequest("take must be ours, theirs or both") }
            _ = try sync.resolve(path, take: choice, state: state)
        } else if let records, !records.isEmpty {
            var sides: [String: PluginMerge.Side] = [:]
            for (formID, side) in records {
                guard let s = PluginMerge.Side(rawValue: side) else { throw WebError.badRequest("a record's side must be ours or theirs, not '\(side)'") }
                sides[formID] = s
            }
            _ = try sync.resolve(path, records: sides, state: state)
        } else {
            throw WebError.badRequest("give take (ours, theirs or both) or records ({FormID: ours|theirs})")
        }
        return try await folderStatus(index)
    }

    /// One side of a conflict.
    struct VersionItem: Encodable {
        var snapshot: String?
        var present: Bool
        var size: Int64?
        var mtime: Date?
        /// The content, for a small text file (up to 256 KiB of UTF-8 without NUL bytes).
        var text: String?
    }

    /// One conflicting record, with its fields on each side.
    struct RecordItem: Encodable {
        var formID: String
        var type: String
        var editorID: String?
        var kind: String
        var ours: String
        var theirs: String
        /// The side `resolve --record` chose, while the merge waits for the next sync.
        var chosen: String?
        var fields: [String: [PluginMerge.FieldView]]

        enum CodingKeys: String, CodingKey {
            case type, kind, ours, theirs, chosen, fields
            case formID = "form_id", editorID = "editor_id"
        }
    }

    /// A pending conflict in full: the three versions, and for a plugin its conflicting records.
    struct ConflictDetail: Encodable {
        var path: String
        var kind: String
        var base: VersionItem
        var ours: VersionItem
        var theirs: VersionItem
        var records: [RecordItem]
    }

    func conflictDetail(_ index: Int, path: String) throws -> ConflictDetail {
        let (_, state, sync) = try boundFolder(index)
        guard let conflict = state.conflicts.first(where: { $0.path == path }) else { throw WebError.notFound("no conflict at \(path)") }
        let v = try sync.versions(of: path, state: state)
        let repo = sync.repository
        func bytes(_ node: TreeNode?, limit: Int64) throws -> [UInt8]? {
            guard let node, node.type == .regular, node.size <= limit else { return nil }
            let reader = try SnapshotFileReader(repository: repo, node: node)
            return try reader.read(offset: 0, count: Int(reader.size))
        }
        func item(_ node: TreeNode?, _ snapshot: ObjectID?) throws -> VersionItem {
            var text: String? = nil
            if let b = try bytes(node, limit: 256 << 10), !b.contains(0), let t = String(validating: b, as: UTF8.self) { text = t }
            return VersionItem(snapshot: snapshot?.hex, present: node != nil, size: node?.size,
                               mtime: node.map { Date(timeIntervalSince1970: Double($0.mtimeNanos) / 1e9) }, text: text)
        }
        let pending = conflict.records ?? []
        var fields: [String: [String: [PluginMerge.FieldView]]] = ["base": [:], "ours": [:], "theirs": [:]]
        if !pending.isEmpty {
            let ids = Set(pending.map(\.formID))
            for (side, node) in [("base", v.base), ("ours", v.ours), ("theirs", v.theirs)] {
                // A side that does not parse shows no fields; the merge said why when it ran.
                if let b = try bytes(node, limit: 512 << 20) { fields[side] = (try? PluginMerge.fields(of: ids, in: b, path: path)) ?? [:] }
            }
        }
        let chosen = state.recordResolutions?[path] ?? [:]
        let records = pending.map { r in
            RecordItem(formID: r.formID, type: r.type, editorID: r.editorID, kind: r.kind, ours: r.ours, theirs: r.theirs,
                       chosen: chosen[r.formID]?.rawValue,
                       fields: fields.compactMapValues { $0[r.formID] })
        }
        return ConflictDetail(path: path, kind: conflict.kind.rawValue, base: try item(v.base, v.baseSnapshot), ours: try item(v.ours, v.oursSnapshot),
                              theirs: try item(v.theirs, v.theirsSnapshot), records: records)
    }

    /// Base, ours and theirs side by side for one conflict, with a button per path and per record.
    func conflictPage(_ index: Int, path: String, csrf: String?) throws -> Response {
        let d = try conflictDetail(index, path: path)
        let folder = configuration.folders[index]
        func column(_ title: String, _ v: VersionItem) -> String {
            var cell = "<h3>\(title)</h3><p>"
            cell += v.present ? "\(v.size.map { HTML.bytes($0) } ?? "") · \(v.mtime.map(HTML.time) ?? "")" : "<i>absent</i>"
            cell += v.snapshot.map { " · snapshot <a href=\"/browse/\($0)\">\(String($0.prefix(8)))</a>" } ?? ""
            cell += "</p>"
            if let text = v.text { cell += "<pre class=version>\(HTML.escape(text))</pre>" }
            return "<td>\(cell)</td>"
        }
        let pathAttr = HTML.escape(d.path)
        var body = """
            <p><a href="/sync">Sync</a> › \(HTML.escape(folder))</p>
            <h2>\(pathAttr) <small>\(HTML.escape(d.kind))</small></h2>
            <table class=sides><tr>\(column("base", d.base))\(column("ours (this folder)", d.ours))\(column("theirs (remote)", d.theirs))</tr></table>
            <p>Whole file: \(["ours", "theirs", "both"].map { "<button class=resolve data-folder=\(index) data-path=\"\(pathAttr)\" data-take=\($0)>take \($0)</button>" }.joined(separator: " "))</p>
            """
        if !d.records.isEmpty {
            body += "<h3>Conflicting records</h3><table class=records><tr><th>FormID</th><th>type</th><th>EditorID</th><th>conflict</th><th>base</th><th>ours</th><th>theirs</th><th>take</th></tr>"
            for r in d.records {
                func fieldList(_ side: String) -> String {
                    guard let fields = r.fields[side] else { return "<i>absent</i>" }
                    let others = ["base", "ours", "theirs"].filter { $0 != side }.compactMap { r.fields[$0] }
                    return fields.map { f in
                        let differs = others.contains { !$0.contains(f) }
                        return "<div class=\"field\(differs ? " differs" : "")\"><b>\(HTML.escape(f.signature))</b> \(HTML.escape(f.value))</div>"
                    }.joined()
                }
                let buttons = r.formID == "-" ? "<i>whole file only</i>" : ["ours", "theirs"].map { side in
                    let on = r.chosen == side ? " class=\"resolve-record chosen\"" : " class=resolve-record"
                    return "<button\(on) data-folder=\(index) data-path=\"\(pathAttr)\" data-form=\"\(HTML.escape(r.formID))\" data-side=\(side)>\(side)</button>"
                }.joined(separator: " ")
                body += "<tr><td>\(HTML.escape(r.formID))</td><td>\(HTML.escape(r.type))</td><td>\(HTML.escape(r.editorID ?? ""))</td>"
                    + "<td>\(HTML.escape(r.kind))<br><small>ours \(HTML.escape(r.ours)), theirs \(HTML.escape(r.theirs))</small></td>"
                    + "<td>\(fieldList("base"))</td><td>\(fieldList("ours"))</td><td>\(fieldList("theirs"))</td><td>\(buttons)</td></tr>"
            }
            body += "</table><p>Each record takes the side chosen; the other records stay merged. Once every record has a side, "
                + "the next sync merges the plugin with these choices and writes it into the folder.</p>"
        }
        body += """
            <script>
            document.querySelectorAll('button.resolve').forEach(b=>b.onclick=async()=>{try{
              await post('/api/v1/folders/'+b.dataset.folder+'/resolve',{path:b.dataset.path,take:b.dataset.take});location.href='/sync'}
              catch(e){alert(e.message)}});
            document.querySelectorAll('button.resolve-record').forEach(b=>b.onclick=async()=>{try{
              const records={};records[b.dataset.form]=b.dataset.side;
              const s=await post('/api/v1/folders/'+b.dataset.folder+'/resolve',{path:b.dataset.path,records:records});
              const f=s.conflicts.find(c=>c.path===b.dataset.path);if(f){location.reload()}else{location.href='/sync'}}
              catch(e){alert(e.message)}});
            </script>
            """
        return WebResponse.html(HTML.page(title: "Conflict · \(d.path)", csrf: csrf, body: body))
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
                    let look = "/folders/\(index)/conflict?path=" + (c.path.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(["&", "+", "=", "#"])) ?? "")
                    body += "<tr><td><a href=\"\(HTML.escape(look))\">\(HTML.escape(c.path))</a></td><td>\(HTML.escape(c.kind))</td><td>\(c.theirs.map { String($0.prefix(8)) } ?? "")</td>"
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
