import Foundation
import Hummingbird
import ModVaultCore

/// The pages: each renders on the server from the same model calls the JSON API answers with, and
/// reads without JavaScript; scripts only create invites, start restores and follow their progress.
extension WebServer {
    /// The history as a timeline, newest first, with a line per day; narrowed to one folder or one
    /// device by the links above it. Each snapshot links to its changes against its parent (the
    /// previous snapshot of its folder, or a merge's first parent).
    func historyPage(folder: String?, device: String?, csrf: String?) throws -> Response {
        let all = try model.snapshots()
        guard !all.isEmpty else {
            return WebResponse.html(HTML.page(title: "History", csrf: csrf, body: "<p>No snapshots yet: <code>modvault snapshot FOLDER</code> makes the first.</p>"))
        }
        func folderOf(_ s: WebModel.SnapshotItem) -> String { s.paths.joined(separator: ", ") }
        func deviceOf(_ s: WebModel.SnapshotItem) -> String { s.host + " · " + String(s.device.prefix(8)) }
        let items = all.filter { (folder == nil || folderOf($0) == folder) && (device == nil || String($0.device.prefix(8)) == device) }
        func filterLinks(_ label: String, _ values: [(key: String, text: String, count: Int)], current: String?, param: String, other: String) -> String {
            let keep = other.isEmpty ? "" : "&amp;" + other
            var links = [current == nil ? "<b>all</b>" : "<a href=\"/?\(keep.dropFirst(5))\">all</a>"]
            for v in values {
                links.append(v.key == current ? "<b>\(HTML.escape(v.text))</b> (\(v.count))"
                             : "<a href=\"/?\(param)=\(HTML.query(v.key))\(keep)\">\(HTML.escape(v.text))</a> (\(v.count))")
            }
            return "<p class=filter>\(label): " + links.joined(separator: " · ") + "</p>"
        }
        let folders = Dictionary(grouping: all, by: folderOf).map { (key: $0.key, text: $0.key, count: $0.value.count) }.sorted { $0.key < $1.key }
        let devices = Dictionary(grouping: all) { String($0.device.prefix(8)) }
            .map { (key: $0.key, text: deviceOf($0.value[0]), count: $0.value.count) }.sorted { $0.text < $1.text }
        let deviceParam = device.map { "device=\(HTML.query($0))" } ?? "", folderParam = folder.map { "folder=\(HTML.query($0))" } ?? ""
        var body = filterLinks("Folders", folders, current: folder, param: "folder", other: deviceParam)
            + filterLinks("Devices", devices, current: device, param: "device", other: folderParam)
        var rows = ""
        var day = ""
        for (i, s) in items.enumerated() {
            let today = String(HTML.time(s.time).prefix(10))
            if today != day {
                rows += "<tr class=day><th colspan=6>\(today)</th></tr>\n"
                day = today
            }
            let previous = s.parents.first ?? items[(i + 1)...].first { folderOf($0) == folderOf(s) }?.id
            let tags = s.tags.map { "<span class=tag>\(HTML.escape($0))</span>" }.joined()
            let merge = s.parents.count > 1 ? " <span class=merge>merge</span>" : ""
            rows += """
            <tr><td>\(HTML.time(s.time).dropFirst(11))</td><td><a href="/browse/\(s.id)">\(s.shortID)</a>\(merge) \(tags)</td>
            <td>\(HTML.escape(deviceOf(s)))</td><td>\(HTML.escape(folderOf(s)))</td>
            <td class=num>\(s.bytesAdded.map(HTML.bytes) ?? "")</td>
            <td>\(previous.map { "<a href=\"/diff?from=\($0)&amp;to=\(s.id)\">changes</a>" } ?? "")</td></tr>
            """
        }
        body += """
            <table id=history><tr><th>time</th><th>snapshot</th><th>host · device</th><th>folder</th><th class=num>added</th><th></th></tr>
            \(rows)</table>
            """
        return WebResponse.html(HTML.page(title: "History", csrf: csrf, body: body))
    }

    func browsePage(_ snapshot: String, path: String, csrf: String?) throws -> Response {
        let record = try model.snapshot(snapshot)
        let entries = try model.entries(record.id.hex, path: path)
        var crumbs = "<a href=\"/browse/\(record.id.hex)\">\(record.id.short)</a>"
        var walked: [String] = []
        for part in try WebPath.components(path) {
            walked.append(part)
            crumbs += " / <a href=\"/browse/\(record.id.hex)?path=\(HTML.query(walked.joined(separator: "/")))\">\(HTML.escape(part))</a>"
        }
        var rows = ""
        for e in entries {
            let link: String
            if e.type == "folder" {
                link = "<a href=\"/browse/\(record.id.hex)?path=\(HTML.query(e.path))\">\(HTML.escape(e.name))/</a>"
            } else if e.type == "file" {
                let readable = WebModel.isReadable(e.name)
                link = "<a href=\"/api/v1/snapshots/\(record.id.hex)/file?path=\(HTML.query(e.path))\" download>\(HTML.escape(e.name))</a>"
                    + " <a class=versions href=\"/file?path=\(HTML.query(e.path))\">versions</a>"
                    + (readable ? " <a class=inside-link href=\"/inside/\(record.id.hex)?path=\(HTML.query(e.path))\">inside</a>" : "")
            } else {
                link = HTML.escape(e.name)
            }
            let restore = e.type == "file" || e.type == "folder"
                ? "<button class=restore data-path=\"\(HTML.escape(e.path))\" data-snapshot=\"\(record.id.hex)\">restore…</button>" : ""
            rows += "<tr><td>\(link)</td><td>\(e.type)</td><td class=num>\(e.type == "folder" ? "" : HTML.bytes(e.size))</td><td>\(HTML.time(e.mtime))</td><td>\(restore)</td></tr>\n"
        }
        let body = """
            <p>\(crumbs) — \(HTML.time(record.snapshot.time)), \(HTML.escape(record.snapshot.host))</p>
            <table id=entries><tr><th>name</th><th>type</th><th class=num>size</th><th>modified</th><th></th></tr>
            \(rows)</table>
            \(Self.restoreWidget)
            """
        return WebResponse.html(HTML.page(title: path.isEmpty ? "Snapshot \(record.id.short)" : path, csrf: csrf, body: body))
    }

    /// The restore form both the browse and the file history pages use: a button with `data-path`
    /// and `data-snapshot` opens it; the job's progress follows below it.
    static let restoreWidget = """
            <div id=restore-box hidden><p>Restore <code id=restore-path></code> into the empty folder
            <input id=restore-target size=50 placeholder="/home/you/restored"> <button id=restore-go>Restore</button></p></div>
            <div id=restore-jobs></div>
            <script>
            let chosen='',chosenSnapshot='';
            document.querySelectorAll('button.restore').forEach(b=>b.onclick=()=>{chosen=b.dataset.path;chosenSnapshot=b.dataset.snapshot;
              document.getElementById('restore-path').textContent=chosen;document.getElementById('restore-box').hidden=false});
            document.getElementById('restore-go').onclick=async()=>{
              const target=document.getElementById('restore-target').value;
              try{const job=await post('/api/v1/restore',{snapshot:chosenSnapshot,paths:[chosen],target});
                const el=document.createElement('p');el.className='job';el.dataset.job=job.id;
                el.innerHTML='<span class=title></span> <progress></progress> <span class=state></span>';el.querySelector('.title').textContent=job.title;
                document.getElementById('restore-jobs').appendChild(el);follow(job.id,el)}
              catch(e){alert(e.message)}};
            </script>
    """

    func fileHistoryPage(_ path: String, csrf: String?) throws -> Response {
        let versions = try model.fileHistory(path)
        var rows = ""
        for v in versions {
            rows += "<tr><td>\(HTML.time(v.time))</td><td><a href=\"/browse/\(v.snapshot)\">\(v.shortID)</a>\(v.sameIn > 0 ? " and \(v.sameIn) later" : "")</td>"
                + "<td class=num>\(HTML.bytes(v.size))</td><td>\(HTML.time(v.mtime))</td>"
                + "<td><a href=\"/api/v1/snapshots/\(v.snapshot)/file?path=\(HTML.query(path))\" download>download</a> "
                + "<button class=restore data-path=\"\(HTML.escape(path))\" data-snapshot=\"\(v.snapshot)\">restore…</button></td></tr>\n"
        }
        let body = """
            <p>\(versions.count) version\(versions.count == 1 ? "" : "s") of <code>\(HTML.escape(path))</code>, newest first.</p>
            <table id=versions><tr><th>first seen</th><th>snapshot</th><th class=num>size</th><th>modified</th><th></th></tr>
            \(rows)</table>
            \(Self.restoreWidget)
            """
        return WebResponse.html(HTML.page(title: "Versions", csrf: csrf, body: body))
    }

    /// The changes between two snapshots. What changed inside archives, plugins and textures needs
    /// those files read, so the page lists the paths at once and fills each file's detail from
    /// `/api/v1/diff/inside` as it loads; without scripts, each file's link shows its detail
    /// (`detail`), rendered on the server.
    func diffPage(from: String, to: String, all: Bool, detail: String?, csrf: String?) throws -> Response {
        guard !from.isEmpty, !to.isEmpty else { throw WebError.badRequest("choose two snapshots (from and to)") }
        let a = try model.snapshot(from), b = try model.snapshot(to)
        let changes = try model.diff(from: a.id.hex, to: b.id.hex)
        // Files whose content is the same (only times or modes changed) would bury the real changes.
        let shown = all ? changes : changes.filter { $0.kind != "metadata" }
        let hidden = changes.count - shown.count
        let here = "/diff?from=\(a.id.hex)&amp;to=\(b.id.hex)" + (all ? "&amp;all=1" : "")
        var rows = ""
        for c in shown {
            let mark = c.kind == "added" ? "<span class=added>+</span>" : c.kind == "removed" ? "<span class=removed>−</span>" : c.kind == "modified" ? "M" : "U"
            var inside = ""
            if c.kind == "modified", WebModel.isReadable(c.path) {
                if detail == c.path {
                    let lines = try model.insideChange(from: a.id.hex, to: b.id.hex, path: c.path)
                    inside = "<div class=inside>\(HTML.escape(lines.joined(separator: "\n")))</div>"
                } else {
                    inside = " <a class=inside-link href=\"\(here)&amp;path=\(HTML.query(c.path))\">what changed inside</a>"
                        + "<div class=inside data-path=\"\(HTML.escape(c.path))\"></div>"
                }
            }
            rows += "<tr><td>\(mark)</td><td>\(HTML.escape(c.path))\(inside)</td><td class=num>\(HTML.bytes(c.sizeBefore))</td><td class=num>\(HTML.bytes(c.sizeAfter))</td></tr>\n"
        }
        let body = """
            <p>From <a href="/browse/\(a.id.hex)">\(a.id.short)</a> to <a href="/browse/\(b.id.hex)">\(b.id.short)</a>: \(shown.count) paths changed\(hidden > 0
                ? "; <a href=\"/diff?from=\(a.id.hex)&amp;to=\(b.id.hex)&amp;all=1\">\(hidden) more</a> with only times or modes changed" : "").</p>
            <table id=changes><tr><th></th><th>path (and what changed inside archives, plugins, textures)</th><th class=num>before</th><th class=num>after</th></tr>
            \(rows)</table>
            <script>
            (async()=>{for(const el of document.querySelectorAll('div.inside[data-path]')){
              const r=await fetch('/api/v1/diff/inside?from=\(a.id.hex)&to=\(b.id.hex)&path='+encodeURIComponent(el.dataset.path));
              if(r.ok){el.textContent=(await r.json()).join('\\n');const link=el.previousElementSibling;if(link)link.remove()}}})();
            </script>
            """
        return WebResponse.html(HTML.page(title: "Changes", csrf: csrf, body: body))
    }

    func teamPage(_ remote: String?, csrf: String?) async throws -> Response {
        let names = configuration.remotes.keys.sorted()
        guard let name = remote ?? names.first else {
            return WebResponse.html(HTML.page(title: "Team", csrf: csrf, body: "<p>No saved remotes: <code>modvault remote add NAME URL</code>.</p>"))
        }
        guard configuration.remotes[name] != nil else { throw WebError.notFound("no remote named \(name)") }
        let picker = names.map { n in n == name ? "<b>\(HTML.escape(n))</b>" : "<a href=\"/team?remote=\(HTML.query(n))\">\(HTML.escape(n))</a>" }
            .joined(separator: " · ")
        var body = "<p>Remote: \(picker)</p>"
        let opened = try configuration.openRemote(name)
        if let pb = opened.pocketBase {
            let members = try await pb.members()
            body += "<h2>Members</h2><table id=members><tr><th></th><th>user</th><th>role</th><th>devices</th><th>joined</th><th>last seen</th></tr>"
            for m in members {
                body += "<tr><td>\(m.isOnline() ? "● online" : "○")</td><td>\(HTML.escape(m.email))</td><td>\(m.role.rawValue)</td>"
                    + "<td>\(HTML.escape(m.devices.joined(separator: ", ")))</td><td>\(m.joined.map(HTML.time) ?? "")</td><td>\(m.lastSeen.map(HTML.time) ?? "never")</td></tr>"
            }
            body += "</table>"
            if let invites = try? await pb.invites(), !invites.isEmpty {
                body += "<h2>Invites</h2><table id=invites><tr><th>id</th><th>role</th><th>state</th><th>expires</th><th></th></tr>"
                for i in invites {
                    let state = i.used ? "used" : i.expires <= Date() ? "expired" : "open"
                    let revoke = state == "open" ? "<button class=revoke data-id=\"\(HTML.escape(i.id))\">revoke</button>" : ""
                    body += "<tr><td>\(HTML.escape(i.id))</td><td>\(i.role.rawValue)</td><td>\(state)</td><td>\(HTML.time(i.expires))</td><td>\(revoke)</td></tr>"
                }
                body += "</table>"
            }
        } else {
            body += "<p>\(HTML.escape(opened.url)) cannot enforce roles: access is whatever credentials each teammate holds. Invite codes still work once.</p>"
        }
        body += """
            <h2>Invite a teammate</h2>
            <p><select id=invite-role><option>reader</option><option selected>writer</option><option>admin</option></select>
            for <input id=invite-hours type=number value=72 min=1 size=5> hours <button id=invite-create>Create invite</button></p>
            <p><input id=invite-code readonly size=100 placeholder="the code appears here"> <button id=invite-copy>Copy</button></p>
            <script>
            const remote=\(Self.jsString(name));
            document.getElementById('invite-create').onclick=async()=>{try{
              const r=await post('/api/v1/remotes/'+encodeURIComponent(remote)+'/invites',{role:document.getElementById('invite-role').value,
                expires_hours:Number(document.getElementById('invite-hours').value)});document.getElementById('invite-code').value=r.code}
              catch(e){alert(e.message)}};
            document.getElementById('invite-copy').onclick=()=>navigator.clipboard&&navigator.clipboard.writeText(document.getElementById('invite-code').value);
            document.querySelectorAll('button.revoke').forEach(b=>b.onclick=async()=>{try{
              await post('/api/v1/remotes/'+encodeURIComponent(remote)+'/invites/'+b.dataset.id+'/revoke',{});location.reload()}catch(e){alert(e.message)}});
            </script>
            """
        return WebResponse.html(HTML.page(title: "Team", csrf: csrf, body: body))
    }

    func jobsPage(_ csrf: String?) -> Response {
        var body = jobs.all.isEmpty ? "<p>No jobs yet. Restores started from a snapshot's page show here, also after a reload.</p>" : ""
        for job in jobs.all {
            body += "<p class=job data-job=\"\(HTML.escape(job.id))\">\(HTML.escape(job.title)) <progress></progress> <span class=state>\(HTML.escape(job.state))</span></p>"
        }
        return WebResponse.html(HTML.page(title: "Jobs", csrf: csrf, body: body))
    }

    /// A string literal for a script, escaped so it cannot end the script element.
    static func jsString(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
        let array = String(decoding: data, as: UTF8.self)
        return String(array.dropFirst().dropLast()).replacingOccurrences(of: "<", with: "\\u003c")
    }
}
