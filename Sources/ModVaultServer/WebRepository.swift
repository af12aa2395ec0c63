import Foundation
import Hummingbird
import ModVaultCore
import ModVaultStore
import ModVaultArchive

/// The repository page: where it is, its remotes, size, deduplication and compression, and
/// `check` run as a job.
extension WebServer {
    struct RepositoryInfo: Encodable {
        var path: String
        var id: String
        var version: Int
        var remotes: [String: String]
        var stats: RepositoryStats
    }

    func repositoryInfo() throws -> RepositoryInfo {
        let repo = model.repository
        return RepositoryInfo(path: repo.path, id: repo.config.id.hex, version: repo.config.version, remotes: configuration.remotes,
                              stats: try RepositoryStats.of(repo))
    }

    /// Starts `check` (with `readData`, every blob is read and verified) as a job.
    func startCheck(readData: Bool) -> WebJob {
        let repo = model.repository
        return jobs.start(kind: "check", title: readData ? "check, reading all data" : "check") { update in
            let report = try Checker(repository: repo).check(readData: readData)
            update(report.packs, report.packs, 0, 0)
            if report.isHealthy { return "no errors: \(report.snapshots) snapshots, \(report.packs) packs" }
            throw WebError.conflict("\(report.errors.count) errors, first: \(report.errors.first ?? "")")
        }
    }

    /// Starts `prune` as a job: deletes packs no snapshot needs and repacks those more than 10 % unused,
    /// under the repository's exclusive lock (as `modvault prune`); `dryRun` only reports.
    func startPrune(dryRun: Bool) -> WebJob {
        let repo = model.repository
        return jobs.start(kind: "prune", title: dryRun ? "prune (preview)" : "prune") { update in
            let lock = try RepositoryLock.acquire(repo, exclusive: true, operation: "prune", wait: 0)
            defer { lock.release() }
            try lock.ensureHeld()
            let r = try Pruner(repository: repo).prune(maxUnused: 0.10, dryRun: dryRun)
            update(r.packsDeleted + r.packsRepacked, r.packsDeleted + r.packsRepacked, r.bytesFreed, r.bytesFreed)
            return "\(r.unusedBlobs) unused blobs; \(r.packsDeleted) packs deleted, \(r.packsRepacked) repacked into \(r.packsWritten); "
                + "\(dryRun ? "would free" : "freed") \(HTML.bytes(r.bytesFreed))"
        }
    }

    func repositoryPage(_ csrf: String?) throws -> Response {
        let info = try repositoryInfo()
        let s = info.stats
        var body = """
            <table id=repository>
            <tr><th>folder</th><td>\(HTML.escape(info.path))</td></tr>
            <tr><th>ID</th><td><code>\(info.id.prefix(16))…</code>, format version \(info.version)</td></tr>
            <tr><th>snapshots</th><td>\(s.snapshots)</td></tr>
            <tr><th>all snapshots' files</th><td>\(HTML.bytes(s.snapshotBytesTotal))</td></tr>
            <tr><th>unique data</th><td>\(HTML.bytes(s.rawBlobBytes)) (deduplication \(String(format: "%.2f", s.deduplication))×)</td></tr>
            <tr><th>stored</th><td>\(HTML.bytes(s.storedBlobBytes)) (compression \(String(format: "%.2f", s.compression))×) in \(s.packs) packs</td></tr>
            <tr><th>on disk</th><td>\(HTML.bytes(s.repositoryBytes))</td></tr>
            </table>
            <h2>Remotes</h2>
            """
        if info.remotes.isEmpty {
            body += "<p>None: <code>modvault remote add NAME URL</code>.</p>"
        } else {
            body += "<table id=remotes><tr><th>name</th><th>URL</th></tr>"
            for (name, url) in info.remotes.sorted(by: { $0.key < $1.key }) {
                body += "<tr><td><a href=\"/team?remote=\(HTML.query(name))\">\(HTML.escape(name))</a></td><td>\(HTML.escape(url))</td></tr>"
            }
            body += "</table>"
        }
        // The newest snapshot of each folder, biggest mods first.
        var seen = Set<[String]>()
        var tables = ""
        for record in try model.repository.snapshots().reversed() where seen.insert(record.snapshot.paths).inserted && seen.count <= 10 {
            tables += "<h3>\(HTML.escape(record.snapshot.paths.joined(separator: ", "))) <small>(\(record.id.short))</small></h3>"
                + "<table class=mods><tr><th>mod</th><th class=num>size</th><th class=num>files</th></tr>"
            for m in try model.modSizes(tree: record.snapshot.tree).prefix(500) {
                tables += "<tr><td>\(HTML.escape(m.name))</td><td class=num>\(HTML.bytes(m.bytes))</td><td class=num>\(m.files)</td></tr>"
            }
            tables += "</table>"
        }
        if !tables.isEmpty { body += "<h2 id=mods>Size per mod</h2>" + tables }
        body += """
            <h2>Check and prune</h2>
            <p class=job-slot id=check-slot><button id=check-now>Check</button> <label><input type=checkbox id=check-data> read all data</label></p>
            <p class=job-slot id=prune-slot><button id=prune-preview>Prune (preview)</button> <button id=prune-now>Prune</button>
            deletes data no snapshot needs (after <code>forget</code>); nothing else may use the repository meanwhile</p>
            <script>
            function start(slot,url,body){return async()=>{try{const job=await post(url,body());const el=document.getElementById(slot);el.dataset.job=job.id;
              el.innerHTML='<span class=title></span> <progress></progress> <span class=state></span>';
              el.querySelector('.title').textContent=job.title;follow(job.id,el)}catch(e){alert(e.message)}}}
            document.getElementById('check-now').onclick=start('check-slot','/api/v1/check',()=>({read_data:document.getElementById('check-data').checked}));
            document.getElementById('prune-preview').onclick=start('prune-slot','/api/v1/prune',()=>({dry_run:true}));
            const prune=start('prune-slot','/api/v1/prune',()=>({dry_run:false}));
            document.getElementById('prune-now').onclick=()=>{if(confirm('Delete the data no snapshot needs?'))prune()};
            </script>
            """
        return WebResponse.html(HTML.page(title: "Repository", csrf: csrf, body: body))
    }
}
